import { MigrationInterface, QueryRunner } from 'typeorm';

export class Foundation1795335999651 implements MigrationInterface {
  name = 'Foundation1795335999651';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "notifications" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "phone_number" character varying(12) NOT NULL, "template" character varying(64) NOT NULL, "language" character varying(2) NOT NULL, "body" text NOT NULL, "status" character varying(16) NOT NULL DEFAULT 'pending', "attempts" integer NOT NULL DEFAULT '0', "last_error" text, "provider" character varying(32), "provider_message_id" character varying(128), "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "sent_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "CHK_notifications_status" CHECK ("status" IN ('pending', 'sending', 'sent', 'failed')), CONSTRAINT "PK_6a72c3c0f683f6462415e653c3a" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_notifications_phone_created" ON "notifications"  ("phone_number", "created_at") `,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_notifications_status_created" ON "notifications"  ("status", "created_at") `,
    );
    await queryRunner.query(
      `CREATE TABLE "users" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "phone_number" character varying(12) NOT NULL, "language" character varying(2) NOT NULL DEFAULT 'en', "pin_hash" character varying(128), "pin_set_at" TIMESTAMP WITH TIME ZONE, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "UQ_17d1817f241f10a3dbafb169fd2" UNIQUE ("phone_number"), CONSTRAINT "CHK_users_language" CHECK ("language" IN ('en', 'sw')), CONSTRAINT "CHK_users_phone_number" CHECK ("phone_number" ~ '^254[17][0-9]{8}$'), CONSTRAINT "PK_a3ffb1c0c8416b9fc6f907b7433" PRIMARY KEY ("id"))`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "users"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_notifications_status_created"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_notifications_phone_created"`);
    await queryRunner.query(`DROP TABLE "notifications"`);
  }
}
