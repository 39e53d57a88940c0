import { MigrationInterface, QueryRunner } from 'typeorm';

export class MpesaStatusQueries1795366127544 implements MigrationInterface {
  name = 'MpesaStatusQueries1795366127544';

  public async up(queryRunner: QueryRunner): Promise<void> {
    // When Daraja acknowledged a withdrawal (its age for the last resort counts from then), and
    // how many Transaction Status queries Daraja accepted about it, the last one when: the money
    // is given back only once a question was actually asked and its answer had time to come.
    await queryRunner.query(`ALTER TABLE "mpesa_payments" ADD "acknowledged_at" TIMESTAMP WITH TIME ZONE`);
    await queryRunner.query(`ALTER TABLE "mpesa_payments" ADD "status_queries" integer NOT NULL DEFAULT 0`);
    await queryRunner.query(`ALTER TABLE "mpesa_payments" ADD "status_queried_at" TIMESTAMP WITH TIME ZONE`);
    // Withdrawals acknowledged before this: when is not known; their request's time is what
    // the last resort counted from until now. None counts as asked, so each is asked again
    // before its money can go back.
    await queryRunner.query(
      `UPDATE "mpesa_payments" SET "acknowledged_at" = "created_at" WHERE "kind" = 'b2c' AND "conversation_id" IS NOT NULL`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "mpesa_payments" DROP COLUMN "status_queried_at"`);
    await queryRunner.query(`ALTER TABLE "mpesa_payments" DROP COLUMN "status_queries"`);
    await queryRunner.query(`ALTER TABLE "mpesa_payments" DROP COLUMN "acknowledged_at"`);
  }
}
