import { MigrationInterface, QueryRunner } from 'typeorm';

export class MpesaCallbackMismatches1795382016440 implements MigrationInterface {
  name = 'MpesaCallbackMismatches1795382016440';

  public async up(queryRunner: QueryRunner): Promise<void> {
    // What each callback that disagreed with its request (amount, phone, shortcode), with Daraja's
    // answer, or with an earlier callback (another receipt or outcome) claimed, and why it was
    // flagged: recorded for an operator, never applied.
    await queryRunner.query(`ALTER TABLE "mpesa_payments" ADD "callback_mismatches" jsonb NOT NULL DEFAULT '[]'`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "mpesa_payments" DROP COLUMN "callback_mismatches"`);
  }
}
