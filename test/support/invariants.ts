import type { EntityManager } from 'typeorm';

/**
 * Every invariant of docs/money.md#invariants, checked in SQL over the whole database (or what a
 * transaction sees, given its manager). Returns the list of violations (empty when all hold), so a
 * failing test says exactly what broke.
 */
export async function ledgerViolations(db: Pick<EntityManager, 'query'>): Promise<string[]> {
  const problems: string[] = [];
  const [{ total }] = await db.query<{ total: string }[]>(
    `SELECT coalesce(sum(balance), 0)::text AS total FROM accounts`,
  );
  if (total !== '0') problems.push(`sum of all balances is ${total}, not 0`);

  const drift = await db.query<{ id: string; balance: string; computed: string }[]>(`
    SELECT a.id, a.balance::text,
           (coalesce((SELECT sum(amount) FROM transfers WHERE credit_account_id = a.id), 0)
          - coalesce((SELECT sum(amount) FROM transfers WHERE debit_account_id = a.id), 0))::text AS computed
      FROM accounts a
     WHERE a.balance <> coalesce((SELECT sum(amount) FROM transfers WHERE credit_account_id = a.id), 0)
                     - coalesce((SELECT sum(amount) FROM transfers WHERE debit_account_id = a.id), 0)`);
  for (const d of drift) problems.push(`account ${d.id}: balance ${d.balance} but credits − debits = ${d.computed}`);

  const negative = await db.query<{ id: string; balance: string }[]>(
    `SELECT id, balance::text FROM accounts WHERE kind = 'user_wallet' AND balance < 0`,
  );
  for (const n of negative) problems.push(`wallet ${n.id} is negative: ${n.balance}`);

  const loans = await db.query<
    {
      id: string;
      status: string;
      principal: string;
      outstanding: string;
      repaid: string;
      disbursements: number;
      disbursed: string;
    }[]
  >(`
    SELECT l.id, l.status, l.principal::text, l.outstanding::text,
           coalesce(sum(t.amount) FILTER (WHERE t.kind = 'loan_repayment'), 0)::text AS repaid,
           count(*) FILTER (WHERE t.kind = 'loan_disbursement')::int AS disbursements,
           coalesce(sum(t.amount) FILTER (WHERE t.kind = 'loan_disbursement'), 0)::text AS disbursed
      FROM loans l LEFT JOIN transfers t ON t.loan_id = l.id
     GROUP BY l.id`);
  for (const l of loans) {
    const principal = BigInt(l.principal);
    const outstanding = BigInt(l.outstanding);
    const repaid = BigInt(l.repaid);
    const moved = l.status === 'ACTIVE' || l.status === 'REPAID';
    if (moved) {
      if (outstanding !== principal - repaid)
        problems.push(`loan ${l.id}: outstanding ${outstanding} ≠ principal ${principal} − repayments ${repaid}`);
      if (l.disbursements !== 1 || BigInt(l.disbursed) !== principal)
        problems.push(`loan ${l.id}: ${l.disbursements} disbursement(s) of ${l.disbursed}`);
    } else if (l.disbursements !== 0 || repaid !== 0n) {
      problems.push(`loan ${l.id} is ${l.status} but money moved for it`);
    }
    if (outstanding < 0n) problems.push(`loan ${l.id}: outstanding ${outstanding} is negative`);
    if ((l.status === 'REPAID') !== (outstanding === 0n))
      problems.push(`loan ${l.id}: status ${l.status} with outstanding ${outstanding}`);
  }

  // A system account may be spread over several rows (M-PESA clearing is): its balance is the sum
  // of its rows', which is the sum of the transfers into them minus the sum of those out of them.
  const systems = await db.query<{ code: string; rows: number; balance: string; computed: string }[]>(`
    SELECT a.code, count(*)::int AS rows, sum(a.balance)::text AS balance,
           (coalesce((SELECT sum(t.amount) FROM transfers t JOIN accounts c ON c.id = t.credit_account_id WHERE c.code = a.code), 0)
          - coalesce((SELECT sum(t.amount) FROM transfers t JOIN accounts d ON d.id = t.debit_account_id WHERE d.code = a.code), 0))::text AS computed
      FROM accounts a WHERE a.kind = 'system' GROUP BY a.code`);
  for (const sys of systems) {
    if (sys.balance !== sys.computed)
      problems.push(`${sys.code} (${sys.rows} rows) holds ${sys.balance} but its transfers sum to ${sys.computed}`);
  }
  // Money leaves clearing only as a deposit and comes back only as a settled withdrawal; a
  // deposit's key debits a clearing row (whichever) and credits a wallet.
  const misplaced = await db.query<{ key: string; kind: string; debit: string | null; credit: string | null }[]>(`
    SELECT t.idempotency_key AS key, t.kind, coalesce(d.code, d.kind) AS debit, coalesce(c.code, c.kind) AS credit
      FROM transfers t
      JOIN accounts d ON d.id = t.debit_account_id
      JOIN accounts c ON c.id = t.credit_account_id
     WHERE (d.code = 'mpesa_clearing' AND t.kind <> 'deposit')
        OR (c.code = 'mpesa_clearing' AND t.kind <> 'withdrawal_settle')
        OR (t.kind = 'withdrawal_settle' AND c.code IS DISTINCT FROM 'mpesa_clearing')
        OR (t.idempotency_key LIKE 'deposit:%'
            AND (t.kind <> 'deposit' OR d.code IS DISTINCT FROM 'mpesa_clearing' OR c.kind <> 'user_wallet'))`);
  for (const m of misplaced) problems.push(`transfer ${m.key} (${m.kind}) moves ${m.debit} → ${m.credit}`);

  // Money held for withdrawals is exactly the holds not closed yet (never below zero), and each
  // hold is closed at most once, by a settle or a release of the same amount.
  const [pending] = await db.query<{ balance: string; open: string }[]>(`
    SELECT coalesce((SELECT sum(a.balance) FROM accounts a WHERE a.code = 'withdrawals_pending'), 0)::text AS balance,
           coalesce((SELECT sum(h.amount) FROM transfers h
                      WHERE h.kind = 'withdrawal_hold'
                        AND NOT EXISTS (SELECT 1 FROM transfers o
                                         WHERE o.idempotency_key = left(h.idempotency_key, length(h.idempotency_key) - 4) || 'outcome')),
                    0)::text AS open`);
  if (pending && BigInt(pending.balance) < 0n) problems.push(`withdrawals_pending is negative: ${pending.balance}`);
  if (pending && pending.balance !== pending.open)
    problems.push(`withdrawals_pending holds ${pending.balance} but the open holds sum to ${pending.open}`);
  const closings = await db.query<{ key: string; problem: string }[]>(`
    SELECT o.idempotency_key AS key,
           CASE WHEN h.id IS NULL THEN 'closes no hold' ELSE 'closes a hold of ' || h.amount || ' with ' || o.amount END AS problem
      FROM transfers o
      LEFT JOIN transfers h
        ON h.idempotency_key = left(o.idempotency_key, length(o.idempotency_key) - 7) || 'hold' AND h.kind = 'withdrawal_hold'
     WHERE o.kind IN ('withdrawal_settle', 'withdrawal_release') AND (h.id IS NULL OR h.amount <> o.amount)`);
  for (const c of closings) problems.push(`withdrawal outcome ${c.key} ${c.problem}`);

  const [{ dupes }] = await db.query<{ dupes: string }[]>(
    `SELECT count(*) - count(DISTINCT idempotency_key) AS dupes FROM transfers`,
  );
  if (Number(dupes) !== 0) problems.push(`${dupes} idempotency keys used twice`);
  return problems;
}

/**
 * What money operations change (balances, transfers, loans and the SMS outbox), to compare before
 * and after something that must move nothing, such as a replay.
 */
export async function moneySnapshot(db: Pick<EntityManager, 'query'>) {
  const [accounts, transfers, loans, notifications] = await Promise.all([
    db.query<{ id: string; balance: string }[]>(`SELECT id, balance::text FROM accounts ORDER BY id`),
    db.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM transfers`),
    db.query<{ id: string; status: string; outstanding: string }[]>(
      `SELECT id, status, outstanding::text FROM loans ORDER BY id`,
    ),
    db.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM notifications`),
  ]);
  return { accounts, transfers: transfers[0].n, loans, notifications: notifications[0].n };
}
