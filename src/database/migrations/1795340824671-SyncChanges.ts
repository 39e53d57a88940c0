import { MigrationInterface, QueryRunner } from 'typeorm';

export class SyncChanges1795340824671 implements MigrationInterface {
  name = 'SyncChanges1795340824671';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "sync_operations" ("op_id" uuid NOT NULL, "user_id" uuid NOT NULL, "device_id" character varying(100) NOT NULL, "type" character varying(32) NOT NULL, "outcome" character varying(16) NOT NULL, "result" jsonb NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "CHK_sync_operations_outcome" CHECK ("outcome" IN ('applied', 'rejected', 'conflict')), CONSTRAINT "PK_cf0a03f944cf30064f61cffda87" PRIMARY KEY ("op_id"))`,
    );
    await queryRunner.query(`CREATE INDEX "IDX_sync_operations_user" ON "sync_operations"  ("user_id", "created_at") `);
    await queryRunner.query(`ALTER TABLE "loans" ADD "change_xid" bigint`);
    await queryRunner.query(`ALTER TABLE "transfers" ADD "change_xid" bigint`);
    await queryRunner.query(`CREATE INDEX "IDX_99b37cd7578ff0a13ed0b0f89e" ON "loans"  ("change_xid") `);
    await queryRunner.query(`CREATE INDEX "IDX_0c508ddaf57504ab35f763f068" ON "transfers"  ("change_xid") `);
    // The transaction that last wrote a row, for the sync pull's cursor (a sequence would not
    // do: numbers are taken at insert but rows become visible at commit, in another order).
    await queryRunner.query(`CREATE FUNCTION deni_set_change_xid() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN NEW.change_xid := pg_current_xact_id()::text::bigint; RETURN NEW; END $$`);
    await queryRunner.query(
      `CREATE TRIGGER trg_loans_change_xid BEFORE INSERT OR UPDATE ON "loans" FOR EACH ROW EXECUTE FUNCTION deni_set_change_xid()`,
    );
    await queryRunner.query(
      `CREATE TRIGGER trg_transfers_change_xid BEFORE INSERT ON "transfers" FOR EACH ROW EXECUTE FUNCTION deni_set_change_xid()`,
    );
    await queryRunner.query(`UPDATE "loans" SET "change_xid" = pg_current_xact_id()::text::bigint`);
    await queryRunner.query(`UPDATE "transfers" SET "change_xid" = pg_current_xact_id()::text::bigint`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TRIGGER trg_transfers_change_xid ON "transfers"`);
    await queryRunner.query(`DROP TRIGGER trg_loans_change_xid ON "loans"`);
    await queryRunner.query(`DROP FUNCTION deni_set_change_xid()`);
    await queryRunner.query(`DROP INDEX "public"."IDX_0c508ddaf57504ab35f763f068"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_99b37cd7578ff0a13ed0b0f89e"`);
    await queryRunner.query(`ALTER TABLE "transfers" DROP COLUMN "change_xid"`);
    await queryRunner.query(`ALTER TABLE "loans" DROP COLUMN "change_xid"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_sync_operations_user"`);
    await queryRunner.query(`DROP TABLE "sync_operations"`);
  }
}
