import { MigrationInterface, QueryRunner } from 'typeorm';

/** How many rows M-PESA clearing is spread over: deposits to two wallets share one 1 time in 16. */
const CLEARING_SHARDS = 16;

export class ClearingShards1795390417000 implements MigrationInterface {
  name = 'ClearingShards1795390417000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    // Every deposit used to debit (and so lock until it committed) the one M-PESA clearing row.
    // A system account may now be spread over several rows, numbered by shard.
    await queryRunner.query(`DROP INDEX "public"."UQ_accounts_code"`);
    await queryRunner.query(`ALTER TABLE "accounts" ADD "shard" smallint NOT NULL DEFAULT '0'`);
    await queryRunner.query(`CREATE UNIQUE INDEX "UQ_accounts_code_shard" ON "accounts"  ("code", "shard") `);
    await queryRunner.query(
      `ALTER TABLE "accounts" ADD CONSTRAINT "CHK_accounts_shard" CHECK ("shard" >= 0 AND ("kind" = 'system' OR "shard" = 0))`,
    );
    // The existing clearing row becomes shard 0 with its id, balance and history, so every
    // transfer made before stays where it was and each row's balance is still its credits minus
    // its debits. The new rows start at 0 and take deposits from now on.
    await queryRunner.query(
      `INSERT INTO "accounts" ("kind", "code", "shard")
       SELECT 'system', 'mpesa_clearing', s FROM generate_series(1, $1::int - 1) AS s`,
      [CLEARING_SHARDS],
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    // Folds every system account back into its shard 0: transfers that named another row name
    // row 0, and row 0's balance takes the others', so every invariant holds again on one row.
    await queryRunner.query(
      `UPDATE "accounts" AS root
          SET "balance" = root."balance" + (SELECT coalesce(sum(s."balance"), 0) FROM "accounts" s
                                             WHERE s."code" = root."code" AND s."shard" > 0)
        WHERE root."kind" = 'system' AND root."shard" = 0`,
    );
    for (const side of ['debit_account_id', 'credit_account_id']) {
      await queryRunner.query(
        `UPDATE "transfers" AS t SET "${side}" = root."id"
           FROM "accounts" s JOIN "accounts" root ON root."code" = s."code" AND root."shard" = 0
          WHERE s."shard" > 0 AND t."${side}" = s."id"`,
      );
    }
    await queryRunner.query(`DELETE FROM "accounts" WHERE "shard" > 0`);
    await queryRunner.query(`ALTER TABLE "accounts" DROP CONSTRAINT "CHK_accounts_shard"`);
    await queryRunner.query(`DROP INDEX "public"."UQ_accounts_code_shard"`);
    await queryRunner.query(`ALTER TABLE "accounts" DROP COLUMN "shard"`);
    await queryRunner.query(`CREATE UNIQUE INDEX "UQ_accounts_code" ON "accounts"  ("code") `);
  }
}
