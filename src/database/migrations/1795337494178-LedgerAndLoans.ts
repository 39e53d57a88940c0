import { MigrationInterface, QueryRunner } from 'typeorm';

export class LedgerAndLoans1795337494178 implements MigrationInterface {
  name = 'LedgerAndLoans1795337494178';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "loans" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "borrower_id" uuid NOT NULL, "lender_id" uuid NOT NULL, "principal" bigint NOT NULL, "repayment_per_deposit" bigint NOT NULL, "outstanding" bigint NOT NULL, "status" character varying(16) NOT NULL DEFAULT 'PENDING', "request_key" character varying(120), "expires_at" TIMESTAMP WITH TIME ZONE NOT NULL, "approved_at" TIMESTAMP WITH TIME ZONE, "closed_at" TIMESTAMP WITH TIME ZONE, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "CHK_loans_repaid" CHECK (("status" = 'REPAID') = ("outstanding" = 0)), CONSTRAINT "CHK_loans_outstanding" CHECK ("outstanding" >= 0 AND "outstanding" <= "principal"), CONSTRAINT "CHK_loans_repayment" CHECK ("repayment_per_deposit" > 0 AND "repayment_per_deposit" <= "principal"), CONSTRAINT "CHK_loans_principal" CHECK ("principal" > 0), CONSTRAINT "CHK_loans_parties" CHECK ("borrower_id" <> "lender_id"), CONSTRAINT "CHK_loans_status" CHECK ("status" IN ('PENDING', 'ACTIVE', 'REPAID', 'DECLINED', 'CANCELLED', 'EXPIRED')), CONSTRAINT "PK_5c6942c1e13e4de135c5203ee61" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX "UQ_loans_request_key" ON "loans"  ("request_key") `);
    await queryRunner.query(
      `CREATE UNIQUE INDEX "UQ_loans_pending_duplicate" ON "loans"  ("borrower_id", "lender_id", "principal", "repayment_per_deposit") WHERE "status" = 'PENDING'`,
    );
    await queryRunner.query(`CREATE INDEX "IDX_loans_status_expires" ON "loans"  ("status", "expires_at") `);
    await queryRunner.query(`CREATE INDEX "IDX_loans_lender_status" ON "loans"  ("lender_id", "status") `);
    await queryRunner.query(
      `CREATE INDEX "IDX_loans_borrower_status" ON "loans"  ("borrower_id", "status", "approved_at") `,
    );
    await queryRunner.query(
      `CREATE TABLE "accounts" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "kind" character varying(16) NOT NULL, "user_id" uuid, "code" character varying(32), "balance" bigint NOT NULL DEFAULT '0', "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "CHK_accounts_owner" CHECK (("kind" = 'user_wallet') = ("user_id" IS NOT NULL) AND ("kind" = 'system') = ("code" IS NOT NULL)), CONSTRAINT "CHK_accounts_wallet_not_negative" CHECK ("kind" <> 'user_wallet' OR "balance" >= 0), CONSTRAINT "CHK_accounts_kind" CHECK ("kind" IN ('user_wallet', 'system')), CONSTRAINT "PK_5a7a02c20412299d198e097a8fe" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX "UQ_accounts_user" ON "accounts"  ("user_id") `);
    await queryRunner.query(`CREATE UNIQUE INDEX "UQ_accounts_code" ON "accounts"  ("code") `);
    await queryRunner.query(
      `CREATE TABLE "transfers" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "seq" BIGSERIAL NOT NULL, "idempotency_key" character varying(200) NOT NULL, "debit_account_id" uuid NOT NULL, "credit_account_id" uuid NOT NULL, "amount" bigint NOT NULL, "kind" character varying(24) NOT NULL, "loan_id" uuid, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "CHK_transfers_kind" CHECK ("kind" IN ('deposit', 'withdrawal_hold', 'withdrawal_settle', 'withdrawal_release', 'loan_disbursement', 'loan_repayment')), CONSTRAINT "CHK_transfers_distinct_accounts" CHECK ("debit_account_id" <> "credit_account_id"), CONSTRAINT "CHK_transfers_amount_positive" CHECK ("amount" > 0), CONSTRAINT "PK_f712e908b465e0085b4408cabc3" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX "UQ_transfers_seq" ON "transfers"  ("seq") `);
    await queryRunner.query(`CREATE UNIQUE INDEX "UQ_transfers_idempotency_key" ON "transfers"  ("idempotency_key") `);
    await queryRunner.query(`CREATE INDEX "IDX_transfers_loan" ON "transfers"  ("loan_id") `);
    await queryRunner.query(`CREATE INDEX "IDX_transfers_credit_seq" ON "transfers"  ("credit_account_id", "seq") `);
    await queryRunner.query(`CREATE INDEX "IDX_transfers_debit_seq" ON "transfers"  ("debit_account_id", "seq") `);
    await queryRunner.query(
      `ALTER TABLE "loans" ADD CONSTRAINT "FK_ea6a3ac00bc28612403b600433a" FOREIGN KEY ("borrower_id") REFERENCES "users"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "loans" ADD CONSTRAINT "FK_c283424f0290405f337ec87784b" FOREIGN KEY ("lender_id") REFERENCES "users"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "transfers" ADD CONSTRAINT "FK_17246a0b76a05dc904bedf608b9" FOREIGN KEY ("debit_account_id") REFERENCES "accounts"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "transfers" ADD CONSTRAINT "FK_9c2842c5957d3c8599119116938" FOREIGN KEY ("credit_account_id") REFERENCES "accounts"("id") ON DELETE NO ACTION ON UPDATE NO ACTION`,
    );
    // The system accounts: the other side of money entering and leaving Deni.
    await queryRunner.query(
      `INSERT INTO "accounts" ("kind", "code") VALUES ('system', 'mpesa_clearing'), ('system', 'withdrawals_pending')`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "transfers" DROP CONSTRAINT "FK_9c2842c5957d3c8599119116938"`);
    await queryRunner.query(`ALTER TABLE "transfers" DROP CONSTRAINT "FK_17246a0b76a05dc904bedf608b9"`);
    await queryRunner.query(`ALTER TABLE "loans" DROP CONSTRAINT "FK_c283424f0290405f337ec87784b"`);
    await queryRunner.query(`ALTER TABLE "loans" DROP CONSTRAINT "FK_ea6a3ac00bc28612403b600433a"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_transfers_debit_seq"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_transfers_credit_seq"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_transfers_loan"`);
    await queryRunner.query(`DROP INDEX "public"."UQ_transfers_idempotency_key"`);
    await queryRunner.query(`DROP INDEX "public"."UQ_transfers_seq"`);
    await queryRunner.query(`DROP TABLE "transfers"`);
    await queryRunner.query(`DROP INDEX "public"."UQ_accounts_code"`);
    await queryRunner.query(`DROP INDEX "public"."UQ_accounts_user"`);
    await queryRunner.query(`DROP TABLE "accounts"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_loans_borrower_status"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_loans_lender_status"`);
    await queryRunner.query(`DROP INDEX "public"."IDX_loans_status_expires"`);
    await queryRunner.query(`DROP INDEX "public"."UQ_loans_pending_duplicate"`);
    await queryRunner.query(`DROP INDEX "public"."UQ_loans_request_key"`);
    await queryRunner.query(`DROP TABLE "loans"`);
  }
}
