import { ENTITIES } from '../src/entities.js';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../src/database/data-source.options.js';
import { runMigrations } from '../src/database/connect-database.js';
import { MIGRATIONS } from '../src/database/schema.js';
import { startTestApp, testConfig } from './support/test-app.js';
import { currentRun, withDatabase } from './support/test-env.js';
import { createDatabaseIfMissing, dropDatabase } from '../src/database/create-database.js';

describe('database schema', () => {
  const url = withDatabase(currentRun().databaseUrl, `deni_test_${currentRun().id}_schema`);
  let ds: DataSource;

  beforeAll(async () => {
    await createDatabaseIfMissing(url);
    ds = await new DataSource(dataSourceOptions(testConfig({ DATABASE_URL: url }), ENTITIES)).initialize();
  });
  afterAll(async () => {
    await ds.destroy();
    await dropDatabase(url);
  });

  it('migrations build exactly what the entities describe (nothing for migration:generate to add)', async () => {
    // Whatever ran before (tests run in any order): every migration applied, once.
    await runMigrations(ds);
    const [{ n }] = await ds.query<{ n: number }[]>(`SELECT count(DISTINCT name)::int AS n FROM migrations`);
    expect(n).toBe(MIGRATIONS.length);
    const pending = await ds.driver.createSchemaBuilder().log();
    expect(pending.upQueries.map((q) => q.query)).toEqual([]);
  });

  it('applies migrations once even when several processes start together on an empty database', async () => {
    // Its own empty database: the lock is contended for real, not met by a database already migrated.
    const empty = withDatabase(currentRun().databaseUrl, `deni_test_${currentRun().id}_schema_race`);
    await createDatabaseIfMissing(empty);
    const others = await Promise.all(
      [1, 2, 3].map(() =>
        new DataSource(dataSourceOptions(testConfig({ DATABASE_URL: empty }), ENTITIES)).initialize(),
      ),
    );
    try {
      const applied = await Promise.all(others.map((o) => runMigrations(o)));
      // Each migration applied by exactly one of them, and recorded once.
      expect(applied.flat().sort()).toEqual(MIGRATIONS.map((m) => m.name).sort());
      const [{ rows, distinct }] = await others[0].query<{ rows: number; distinct: number }[]>(
        `SELECT count(*)::int AS rows, count(DISTINCT name)::int AS distinct FROM migrations`,
      );
      expect({ rows, distinct }).toEqual({ rows: MIGRATIONS.length, distinct: MIGRATIONS.length });
    } finally {
      await Promise.all(others.map((o) => o.destroy()));
      await dropDatabase(empty);
    }
  });

  it('reverts every migration and re-applies them cleanly', async () => {
    for (let i = 0; i < MIGRATIONS.length; i += 1) await ds.undoLastMigration();
    const [{ n }] = await ds.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'migrations'`,
    );
    expect(n).toBe(0);
    expect(await runMigrations(ds)).toHaveLength(MIGRATIONS.length);
    const system = await ds.query<{ code: string; shard: number; balance: string }[]>(
      `SELECT code, shard, balance FROM accounts WHERE kind = 'system' ORDER BY code, shard`,
    );
    // M-PESA clearing spread over 16 rows (docs/money.md#m-pesa-clearing-spread-over-rows), the pending account on one.
    expect(system).toEqual([
      ...Array.from({ length: 16 }, (_, shard) => ({ code: 'mpesa_clearing', shard, balance: '0' })),
      { code: 'withdrawals_pending', shard: 0, balance: '0' },
    ]);
  });

  it.each(['all', 'api', 'worker'])(
    'the %s application registers every entity through its own modules, as the CLI lists them',
    async (role) => {
      const { app } = await startTestApp({ APP_ROLE: role });
      try {
        const registered = app.get(DataSource).entityMetadatas.map((m) => m.target);
        expect(new Set(registered)).toEqual(new Set(ENTITIES));
      } finally {
        await app.close();
      }
    },
  );
});
