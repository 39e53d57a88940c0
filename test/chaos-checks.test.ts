import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { Inspector } from '../chaos/checks.js';
import type { Kind, Operation } from '../chaos/traffic.js';
import { AT_SIMULATOR_CREDENTIALS } from '../src/config/simulator-credentials.js';
import { deleteRedisKeys } from './support/run-lifecycle.js';
import { startTestSimulators, type TestSimulators } from './support/simulators.js';
import { ownRedisPrefix, uniquePhone } from './support/test-app.js';
import { currentRun } from './support/test-env.js';

/**
 * What `npm run chaos` checks after its drain (chaos/checks.ts), shown to find each thing it looks
 * for: state made by hand in this file's database, Redis prefix and simulators, as a Deni that
 * lost, doubled or misordered something would leave it. The short form (test/chaos.test.ts)
 * expects each of these counts to be 0; here each is seen not to be.
 */

const WITHDRAWAL_PAID_BUT_RELEASED = randomUUID();
const WITHDRAWAL_SETTLED_UNPAID = randomUUID();

function operation(kind: Kind, fields: Partial<Operation>): Operation {
  return {
    k: 0,
    kind,
    phone: '',
    amount: 0,
    sent: true,
    acked: 'online',
    replays: 0,
    disagreements: [],
    at: 0,
    ...fields,
  };
}

describe("the fault test's checks", () => {
  const run = currentRun();
  const prefix = ownRedisPrefix();
  const dataDir = mkdtempSync(join(tmpdir(), 'deni-chaos-checks-'));
  let db: pg.Client;
  let redis: Redis;
  let simulators: TestSimulators;
  let inspector: Inspector;

  beforeAll(async () => {
    db = new pg.Client({ connectionString: run.databaseUrl });
    await db.connect();
    redis = new Redis(run.redisUrl);
    simulators = await startTestSimulators();
    // What the simulated M-PESA did with two withdrawals (its state file, as the simulators process keeps it).
    const b2c = (id: string, state: string) => ({ originatorConversationId: id, state, amount: 50 });
    writeFileSync(
      join(dataDir, 'daraja.json'),
      JSON.stringify({
        version: 1,
        pushes: [],
        b2cs: [b2c(WITHDRAWAL_PAID_BUT_RELEASED, 'completed'), b2c(WITHDRAWAL_SETTLED_UNPAID, 'failed')],
      }),
    );
    inspector = new Inspector(run.databaseUrl, run.redisUrl, prefix, simulators.url, dataDir);
    await inspector.open();
  });
  afterAll(async () => {
    await inspector?.close();
    await Promise.all([db?.end(), simulators?.close()]);
    redis?.disconnect();
    await deleteRedisKeys(run.redisUrl, [`${prefix}:*`]);
    rmSync(dataDir, { recursive: true, force: true });
  });

  const user = async (phone = uniquePhone()) => {
    const [{ id }] = (
      await db.query<{ id: string }>(`INSERT INTO users (phone_number) VALUES ($1) RETURNING id`, [phone])
    ).rows;
    return { id, phone };
  };
  const loan = (borrower: string, lender: string, principal: number, requestKey: string, status: string) =>
    db.query(
      `INSERT INTO loans (borrower_id, lender_id, principal, repayment_per_deposit, outstanding, status, request_key, expires_at)
       VALUES ($1, $2, $3, 10, $3, $4, $5, now() + interval '1 day')`,
      [borrower, lender, principal, status, requestKey],
    );

  it('counts an acknowledged write with no effect as lost, and a write applied more often than it was sent', async () => {
    const [borrower, lender] = [await user(), await user()];
    // One USSD request sent once and found twice (two keys: a step applied again under another).
    await loan(borrower.id, lender.id, 150, `ussd:${randomUUID()}:6:request`, 'DECLINED');
    await loan(borrower.id, lender.id, 150, `ussd:${randomUUID()}:6:request`, 'CANCELLED');
    const doubled = operation('ussd-request', { phone: borrower.phone, counterpart: lender.phone, amount: 150 });
    // Acknowledged, and nowhere: by USSD (told by who, to whom, how much) and by REST (by its key).
    const lostUssd = operation('ussd-request', { phone: borrower.phone, counterpart: lender.phone, amount: 160 });
    const lostRest = operation('rest-request', { phone: borrower.phone, key: `never-made-${randomUUID()}` });
    // Saved offline under a reference the offline queue does not hold.
    const lostOffline = operation('ussd-withdraw', {
      phone: borrower.phone,
      amount: 20,
      acked: 'offline',
      reference: 'ZZZZZZZZZZ',
    });

    const found = await inspector.findings([doubled, lostUssd, lostRest, lostOffline], []);
    expect(found.duplicatedOperations).toContainEqual(`ussd-request ${borrower.phone} 150: sent 1 time(s), applied 2`);
    expect(found.lostOperations).toEqual(
      expect.arrayContaining([
        `ussd-request ${borrower.phone} 160: 1 acknowledged, 0 found`,
        `rest-request #0 of ${borrower.phone} (${lostRest.key}): acknowledged, not found`,
        `ussd-withdraw #0 of ${borrower.phone}: saved offline as ZZZZZZZZZZ, missing`,
      ]),
    );
  });

  it("counts an SMS Africa's Talking took more often than the outbox holds it", async () => {
    const phone = uniquePhone();
    for (const body of ['Deni: once.', 'Deni: twice.'])
      await db.query(
        `INSERT INTO notifications (phone_number, template, language, body, status) VALUES ($1, 'pin.changed', 'en', $2, 'sent')`,
        [phone, body],
      );
    for (const message of ['Deni: once.', 'Deni: twice.', 'Deni: twice.']) {
      const res = await fetch(`${simulators.url}/version1/messaging`, {
        method: 'POST',
        headers: {
          apiKey: AT_SIMULATOR_CREDENTIALS.apiKey,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: new URLSearchParams({ username: AT_SIMULATOR_CREDENTIALS.username, to: `+${phone}`, message }).toString(),
      });
      expect(res.status).toBe(201);
    }
    const found = await inspector.findings([], [phone]);
    expect(found.duplicateSms).toEqual([`${phone}: "Deni: twice." sent 2 times, 1 in the outbox`]);
  });

  it('counts a withdrawal given back that M-PESA paid, and one settled that M-PESA did not pay', async () => {
    const { id, phone } = await user();
    for (const [payment, status] of [
      [WITHDRAWAL_PAID_BUT_RELEASED, 'failed'],
      [WITHDRAWAL_SETTLED_UNPAID, 'succeeded'],
    ])
      await db.query(
        `INSERT INTO mpesa_payments (id, kind, status, user_id, phone_number, amount) VALUES ($1, 'b2c', $2, $3, $4, 50)
         ON CONFLICT (id) DO NOTHING`,
        [payment, status, id, phone],
      );
    const found = await inspector.findings([], []);
    expect(found.releasedInDoubt).toEqual([
      `withdrawal ${WITHDRAWAL_PAID_BUT_RELEASED} of 50: given back, M-PESA paid it`,
    ]);
    expect(found.settledUnpaid).toEqual([`withdrawal ${WITHDRAWAL_SETTLED_UNPAID} of 50: settled, M-PESA says failed`]);
  });

  it("counts a subscriber's offline writes applied in another order than they were made", async () => {
    const phone = uniquePhone();
    const item = (id: string, queuedAt: number, syncedAt: number) =>
      redis.hset(`${prefix}:offline:item:${id}`, {
        item: JSON.stringify({ id, phoneNumber: phone, queuedAt }),
        status: 'applied',
        syncedAt: String(syncedAt),
      });
    await item('FIRST00000', 1_000, 5_000);
    await item('SECOND0000', 2_000, 4_000);
    const found = await inspector.findings([], []);
    expect(found.offlineOrderViolations).toEqual([
      `${phone}: SECOND0000 (queued 2000) applied before FIRST00000 (queued 1000)`,
    ]);
  });

  it("reports the ledger's invariants broken", async () => {
    const { id } = await user();
    // A wallet holding money no transfer brought.
    await db.query(`INSERT INTO accounts (kind, user_id, balance) VALUES ('user_wallet', $1, 70)`, [id]);
    const found = await inspector.findings([], []);
    expect(found.invariantViolations).toEqual(expect.arrayContaining(['sum of all balances is 70, not 0']));
  });

  it('does not call Deni drained while an SMS waits in the outbox, and says which', async () => {
    const [{ id }] = (
      await db.query<{ id: string }>(
        `INSERT INTO notifications (phone_number, template, language, body, status, attempts)
         VALUES ($1, 'pin.changed', 'en', 'Deni: stuck.', 'sending', 1) RETURNING id`,
        [uniquePhone()],
      )
    ).rows;
    const drain = await inspector.waitForDrain(0, () => undefined);
    expect(drain.drained).toBe(false);
    expect(drain.left['SMS not sent']).toBeGreaterThanOrEqual(1);
    expect(drain.leftDetails).toContainEqual(
      expect.stringMatching(new RegExp(`^SMS ${id} \\(pin.changed\\): sending, 1 attempt`)),
    );
  });
});
