import { MigrationInterface, QueryRunner } from 'typeorm';

export class UserNames1795406000000 implements MigrationInterface {
  name = 'UserNames1795406000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    // The name a subscriber set, and apart from it the one M-PESA reported for their own number
    // (with where it came from): the second never overwrites the first, it only stands in for it.
    // name_hidden: shown only to people the subscriber has dealt with.
    await queryRunner.query(`ALTER TABLE "users" ADD "name" character varying(40)`);
    await queryRunner.query(`ALTER TABLE "users" ADD "mpesa_name" character varying(40)`);
    await queryRunner.query(`ALTER TABLE "users" ADD "mpesa_name_source" character varying(80)`);
    await queryRunner.query(`ALTER TABLE "users" ADD "name_hidden" boolean NOT NULL DEFAULT false`);
    await queryRunner.query(
      `ALTER TABLE "users" ADD CONSTRAINT "CHK_users_name" CHECK ("name" IS NULL OR char_length("name") BETWEEN 2 AND 40)`,
    );
    await queryRunner.query(
      `ALTER TABLE "users" ADD CONSTRAINT "CHK_users_mpesa_name" CHECK (("mpesa_name" IS NULL) = ("mpesa_name_source" IS NULL))`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "users" DROP CONSTRAINT "CHK_users_mpesa_name"`);
    await queryRunner.query(`ALTER TABLE "users" DROP CONSTRAINT "CHK_users_name"`);
    await queryRunner.query(`ALTER TABLE "users" DROP COLUMN "name_hidden"`);
    await queryRunner.query(`ALTER TABLE "users" DROP COLUMN "mpesa_name_source"`);
    await queryRunner.query(`ALTER TABLE "users" DROP COLUMN "mpesa_name"`);
    await queryRunner.query(`ALTER TABLE "users" DROP COLUMN "name"`);
  }
}
