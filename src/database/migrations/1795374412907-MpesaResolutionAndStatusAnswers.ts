import { MigrationInterface, QueryRunner } from 'typeorm';

export class MpesaResolutionAndStatusAnswers1795374412907 implements MigrationInterface {
  name = 'MpesaResolutionAndStatusAnswers1795374412907';

  public async up(queryRunner: QueryRunner): Promise<void> {
    // The ConversationIDs of Daraja's acknowledgements of the Transaction Status questions about
    // a withdrawal (the latest few): an answer whose Result.ConversationID is one of them answers
    // our question, for a withdrawal that has no B2C ConversationID of its own to match by.
    await queryRunner.query(`ALTER TABLE "mpesa_payments" ADD "status_query_conversation_ids" text array`);
    // A decisive Transaction Status answer that could not be matched to the withdrawal: what it
    // said. Set, the last resort never gives the money back; an operator resolves it.
    await queryRunner.query(`ALTER TABLE "mpesa_payments" ADD "unmatched_status_answer" text`);
    // An operator's resolution of a withdrawal, in columns of its own (not a result_desc prefix
    // a callback's text could imitate).
    await queryRunner.query(`ALTER TABLE "mpesa_payments" ADD "resolved_at" TIMESTAMP WITH TIME ZONE`);
    await queryRunner.query(`ALTER TABLE "mpesa_payments" ADD "resolved_by" character varying(64)`);
    await queryRunner.query(`ALTER TABLE "mpesa_payments" ADD "resolution" character varying(16)`);
    await queryRunner.query(
      `ALTER TABLE "mpesa_payments" ADD CONSTRAINT "CHK_mpesa_payments_resolution" CHECK ("resolution" IN ('paid', 'not_paid'))`,
    );
    // Withdrawals resolved before this were known by their description; who by the review columns.
    await queryRunner.query(
      `UPDATE "mpesa_payments" SET "resolved_at" = "completed_at", "resolved_by" = "reviewed_by",
                    "resolution" = CASE WHEN "result_desc" LIKE 'RESOLVED BY OPERATOR as paid%' THEN 'paid' ELSE 'not_paid' END
             WHERE "kind" = 'b2c' AND ("result_desc" LIKE 'RESOLVED BY OPERATOR%' OR ("result_desc" LIKE 'PAID AFTER RELEASE%' AND "result_desc" LIKE '%RESOLVED BY OPERATOR%'))`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "mpesa_payments" DROP CONSTRAINT "CHK_mpesa_payments_resolution"`);
    await queryRunner.query(`ALTER TABLE "mpesa_payments" DROP COLUMN "resolution"`);
    await queryRunner.query(`ALTER TABLE "mpesa_payments" DROP COLUMN "resolved_by"`);
    await queryRunner.query(`ALTER TABLE "mpesa_payments" DROP COLUMN "resolved_at"`);
    await queryRunner.query(`ALTER TABLE "mpesa_payments" DROP COLUMN "unmatched_status_answer"`);
    await queryRunner.query(`ALTER TABLE "mpesa_payments" DROP COLUMN "status_query_conversation_ids"`);
  }
}
