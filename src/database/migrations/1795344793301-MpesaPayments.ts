import { MigrationInterface, QueryRunner } from 'typeorm';

export class MpesaPayments1795344793301 implements MigrationInterface {
  name = 'MpesaPayments1795344793301';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "mpesa_payments" ("id" uuid NOT NULL, "kind" character varying(8) NOT NULL, "status" character varying(16) NOT NULL, "user_id" uuid, "phone_number" character varying(32) NOT NULL, "amount" bigint NOT NULL, "merchant_request_id" character varying(64), "checkout_request_id" character varying(64), "originator_conversation_id" character varying(64), "conversation_id" character varying(64), "trans_id" character varying(32), "receipt" character varying(32), "result_code" integer, "result_desc" text, "request" jsonb, "response" jsonb, "callback" jsonb, "reconcile_attempts" integer NOT NULL DEFAULT '0', "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "completed_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "CHK_mpesa_payments_amount" CHECK ("amount" > 0), CONSTRAINT "CHK_mpesa_payments_status" CHECK ("status" IN ('requested', 'pending', 'succeeded', 'failed', 'unmatched')), CONSTRAINT "CHK_mpesa_payments_kind" CHECK ("kind" IN ('stk', 'c2b', 'b2c')), CONSTRAINT "PK_6abcb4f89f72177b1458c16e99d" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_mpesa_payments_user_created" ON "mpesa_payments"  ("user_id", "created_at") `,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_mpesa_payments_status_created" ON "mpesa_payments"  ("status", "created_at") `,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "IDX_mpesa_payments_trans" ON "mpesa_payments"  ("trans_id") WHERE "trans_id" IS NOT NULL`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "IDX_mpesa_payments_originator" ON "mpesa_payments"  ("originator_conversation_id") WHERE "originator_conversation_id" IS NOT NULL`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "IDX_mpesa_payments_checkout" ON "mpesa_payments"  ("checkout_request_id") WHERE "checkout_request_id" IS NOT NULL`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."IDX_mpesa_payments_checkout"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_mpesa_payments_originator"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_mpesa_payments_trans"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_mpesa_payments_status_created"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_mpesa_payments_user_created"`);
    await queryRunner.query(`DROP TABLE "mpesa_payments"`);
  }
}
