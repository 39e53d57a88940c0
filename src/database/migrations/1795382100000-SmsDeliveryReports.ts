import { MigrationInterface, QueryRunner } from 'typeorm';

export class SmsDeliveryReports1795382100000 implements MigrationInterface {
  name = 'SmsDeliveryReports1795382100000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    // Africa's Talking's delivery reports: a message it took ('sent') ends 'delivered' when the
    // handset got it, or 'failed' when the network gave up; the report's own fields are kept.
    await queryRunner.query(`ALTER TABLE "notifications" DROP CONSTRAINT "CHK_notifications_status"`);
    await queryRunner.query(
      `ALTER TABLE "notifications" ADD CONSTRAINT "CHK_notifications_status" CHECK ("status" IN ('pending', 'sending', 'sent', 'delivered', 'failed'))`,
    );
    await queryRunner.query(`ALTER TABLE "notifications" ADD "delivery_status" character varying(32)`);
    await queryRunner.query(`ALTER TABLE "notifications" ADD "delivery_failure_reason" character varying(64)`);
    await queryRunner.query(`ALTER TABLE "notifications" ADD "delivery_retry_count" integer`);
    await queryRunner.query(`ALTER TABLE "notifications" ADD "delivery_network_code" character varying(16)`);
    await queryRunner.query(`ALTER TABLE "notifications" ADD "delivery_reported_at" TIMESTAMP WITH TIME ZONE`);
    // Reports name the message by the provider's id.
    await queryRunner.query(
      `CREATE INDEX "IDX_notifications_provider_message_id" ON "notifications" ("provider_message_id")`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "IDX_notifications_provider_message_id"`);
    await queryRunner.query(`ALTER TABLE "notifications" DROP COLUMN "delivery_reported_at"`);
    await queryRunner.query(`ALTER TABLE "notifications" DROP COLUMN "delivery_network_code"`);
    await queryRunner.query(`ALTER TABLE "notifications" DROP COLUMN "delivery_retry_count"`);
    await queryRunner.query(`ALTER TABLE "notifications" DROP COLUMN "delivery_failure_reason"`);
    await queryRunner.query(`ALTER TABLE "notifications" DROP COLUMN "delivery_status"`);
    await queryRunner.query(`UPDATE "notifications" SET "status" = 'sent' WHERE "status" = 'delivered'`);
    await queryRunner.query(`ALTER TABLE "notifications" DROP CONSTRAINT "CHK_notifications_status"`);
    await queryRunner.query(
      `ALTER TABLE "notifications" ADD CONSTRAINT "CHK_notifications_status" CHECK ("status" IN ('pending', 'sending', 'sent', 'failed'))`,
    );
  }
}
