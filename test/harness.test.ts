import { Client } from 'pg';
import { testConfig } from './support/test-app.js';
import { currentRun, withDatabase } from './support/test-env.js';

/** The test harness itself: each test file works in a database no other file can see. */
describe('test harness', () => {
  const databaseName = (url: string) => decodeURIComponent(new URL(url).pathname.slice(1));
  const connect = async (url: string) => {
    const client = new Client({ connectionString: url });
    await client.connect();
    return client;
  };

  it("gives this file a database of its own, which every helper names, copied from the run's migrated template", async () => {
    const run = currentRun();
    const mine = databaseName(run.databaseUrl);
    expect(mine).toMatch(new RegExp(`^deni_test_${run.id}_[0-9a-f]{8}$`));
    expect(mine).not.toBe(databaseName(run.templateDatabaseUrl));
    expect(databaseName(testConfig().database.url)).toBe(mine);
    expect(databaseName(process.env.DATABASE_URL!)).toBe(mine);

    const client = await connect(run.databaseUrl);
    try {
      const [{ db }] = (await client.query<{ db: string }>('SELECT current_database() AS db')).rows;
      expect(db).toBe(mine);
      // A copy of the template: migrated already, the system accounts in place.
      const [{ n }] = (await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM migrations`)).rows;
      expect(n).toBeGreaterThan(0);
    } finally {
      await client.end();
    }
  });

  it("a row written in this file's database is invisible in another file's, copied from the template after it", async () => {
    const run = currentRun();
    const q = (name: string) => `"${name.replace(/"/g, '""')}"`;
    const mine = await connect(run.databaseUrl);
    const admin = await connect(withDatabase(run.databaseUrl, 'postgres'));
    // Another file's database, made the way the environment makes each one, after this file wrote:
    // neither the other file nor the template it is copied from sees this file's row.
    const otherName = `deni_test_${run.id}_harness_other`;
    let other: Client | undefined;
    try {
      const marker = `HARNESS-${Date.now().toString(36)}`;
      await mine.query(`CREATE TABLE harness_marker (note text)`);
      await mine.query(`INSERT INTO harness_marker (note) VALUES ($1)`, [marker]);
      expect((await mine.query(`SELECT note FROM harness_marker`)).rows).toEqual([{ note: marker }]);

      await admin.query(`CREATE DATABASE ${q(otherName)} TEMPLATE ${q(databaseName(run.templateDatabaseUrl))}`);
      other = await connect(withDatabase(run.databaseUrl, otherName));
      const seen = await other.query<{ t: string | null }>(`SELECT to_regclass('public.harness_marker')::text AS t`);
      expect(seen.rows).toEqual([{ t: null }]);
      // Yet it is a migrated copy like this file's.
      const [{ n }] = (await other.query<{ n: number }>(`SELECT count(*)::int AS n FROM migrations`)).rows;
      expect(n).toBeGreaterThan(0);
    } finally {
      await mine.end();
      await other?.end();
      await admin.query(`DROP DATABASE IF EXISTS ${q(otherName)}`);
      await admin.end();
    }
  });
});
