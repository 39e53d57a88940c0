import { MigrationInterface, QueryRunner } from 'typeorm';

export class MpesaNeedsReview1795352417027 implements MigrationInterface {
  name = 'MpesaNeedsReview1795352417027';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "mpesa_payments" ADD "needs_review" boolean NOT NULL DEFAULT false`);
    // Payments kept for nobody so far are exactly what an operator must look at.
    await queryRunner.query(`UPDATE "mpesa_payments" SET "needs_review" = true WHERE "status" = 'unmatched'`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "mpesa_payments" DROP COLUMN "needs_review"`);
  }
}
