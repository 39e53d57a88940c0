import { MigrationInterface, QueryRunner } from 'typeorm';

export class SmsSendLeases1795398000000 implements MigrationInterface {
  name = 'SmsSendLeases1795398000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    // A claimed row is held until lease_until; request_sent_at says whether its request may have
    // left, which makes it a message in doubt should the worker die. 'rejected' is Africa's
    // Talking's Rejected report, 'unknown' a message in doubt that is not sent twice.
    await queryRunner.query(`ALTER TABLE "notifications" ADD "lease_until" TIMESTAMP WITH TIME ZONE`);
    await queryRunner.query(`ALTER TABLE "notifications" ADD "request_sent_at" TIMESTAMP WITH TIME ZONE`);
    await queryRunner.query(`ALTER TABLE "notifications" DROP CONSTRAINT "CHK_notifications_status"`);
    await queryRunner.query(
      `ALTER TABLE "notifications" ADD CONSTRAINT "CHK_notifications_status" CHECK ("status" IN ('pending', 'sending', 'sent', 'delivered', 'rejected', 'failed', 'unknown'))`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`UPDATE "notifications" SET "status" = 'failed' WHERE "status" IN ('rejected', 'unknown')`);
    await queryRunner.query(`ALTER TABLE "notifications" DROP CONSTRAINT "CHK_notifications_status"`);
    await queryRunner.query(
      `ALTER TABLE "notifications" ADD CONSTRAINT "CHK_notifications_status" CHECK ("status" IN ('pending', 'sending', 'sent', 'delivered', 'failed'))`,
    );
    await queryRunner.query(`ALTER TABLE "notifications" DROP COLUMN "request_sent_at"`);
    await queryRunner.query(`ALTER TABLE "notifications" DROP COLUMN "lease_until"`);
  }
}
