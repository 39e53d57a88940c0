import { MigrationInterface, QueryRunner } from 'typeorm';

export class MpesaPaymentReview1795358203114 implements MigrationInterface {
  name = 'MpesaPaymentReview1795358203114';

  public async up(queryRunner: QueryRunner): Promise<void> {
    // Who cleared needs_review (as the operator said: the admin key names nobody), when, and what they found.
    await queryRunner.query(`ALTER TABLE "mpesa_payments" ADD "reviewed_at" TIMESTAMP WITH TIME ZONE`);
    await queryRunner.query(`ALTER TABLE "mpesa_payments" ADD "reviewed_by" character varying(64)`);
    await queryRunner.query(`ALTER TABLE "mpesa_payments" ADD "review_note" text`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "mpesa_payments" DROP COLUMN "review_note"`);
    await queryRunner.query(`ALTER TABLE "mpesa_payments" DROP COLUMN "reviewed_by"`);
    await queryRunner.query(`ALTER TABLE "mpesa_payments" DROP COLUMN "reviewed_at"`);
  }
}
