/**
 * The run's subscribers: lenders (funded) and borrowers, each looked after by one actor of the
 * traffic (a phone is in one pair of hands at a time), registered and given a PIN and money before
 * the load, as the bench does it.
 */
import pg from 'pg';
import { hashPin } from '../src/users/pin.js';
import type { Client } from './client.js';

export const PIN = '4821';
export const LENDER_FUNDS = 500_000;
export const BORROWER_FUNDS = 3_000;

export interface Cast {
  lenders: string[];
  borrowers: string[];
}

export interface Population extends Cast {
  /** Who each actor looks after. */
  byActor: Cast[];
  all: string[];
}

/** As a subscriber types a number: 0710000001. */
export const local = (msisdn: string) => `0${msisdn.slice(3)}`;

export function population(actors: number, lendersPerActor = 4, borrowersPerActor = 16): Population {
  const byActor: Cast[] = Array.from({ length: actors }, (_, a) => ({
    lenders: Array.from(
      { length: lendersPerActor },
      (_, i) => `2547110${String(a * lendersPerActor + i).padStart(5, '0')}`,
    ),
    borrowers: Array.from(
      { length: borrowersPerActor },
      (_, i) => `2547220${String(a * borrowersPerActor + i).padStart(5, '0')}`,
    ),
  }));
  const lenders = byActor.flatMap((c) => c.lenders);
  const borrowers = byActor.flatMap((c) => c.borrowers);
  return { byActor, lenders, borrowers, all: [...lenders, ...borrowers] };
}

async function inBatches<T>(items: T[], size: number, work: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(work));
}

/**
 * Registers everyone (a first dial each), sets their PIN in the database (the bench's way: a
 * journey of PIN creation per subscriber would only slow the setup), then credits each wallet by
 * an operator deposit, whose write also refreshes the subscriber's offline snapshot, PIN included,
 * and logs each in once. Finally registers the paybill's C2B URLs with the simulated Daraja.
 */
export async function seed(client: Client, people: Population, databaseUrl: string, pepper: string): Promise<void> {
  await inBatches(people.all, 10, async (phone) => {
    const reply = await client.ussd(phone, `setup-${phone}`, '');
    if (!reply?.startsWith('CON M-PESA LOANS')) throw new Error(`the setup dial of ${phone} answered ${reply}`);
  });
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const hashes = people.all.map(() => hashPin(PIN, pepper));
    const res = await db.query(
      `UPDATE users u SET pin_hash = x.hash, pin_set_at = now()
         FROM unnest($1::text[], $2::text[]) AS x(phone, hash) WHERE u.phone_number = x.phone`,
      [people.all, hashes],
    );
    if (res.rowCount !== people.all.length) throw new Error(`PINs set for ${res.rowCount} of ${people.all.length}`);
  } finally {
    await db.end();
  }
  await inBatches(people.all, 10, async (phone) => {
    const amount = people.lenders.includes(phone) ? LENDER_FUNDS : BORROWER_FUNDS;
    const res = await client.rest('POST', '/api/admin/deposits', {
      admin: true,
      body: { phoneNumber: phone, amount, reference: `CHAOSFUND${phone}` },
    });
    if (res?.status !== 201) throw new Error(`funding ${phone}: ${res?.status} ${res?.body}`);
  });
  // A first login checks each PIN online, which is what lets USSD check it offline later.
  await inBatches(people.all, 10, async (phone) => {
    if (!(await client.token(phone))) throw new Error(`${phone} could not log in`);
  });
  const registered = await client.rest('POST', '/api/admin/mpesa/c2b/register', { admin: true });
  if (registered?.status !== 200 && registered?.status !== 201)
    throw new Error(`C2B registration: ${registered?.status} ${registered?.body}`);
}
