import { ConfigService } from '@nestjs/config';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../src/database/data-source.options.js';
import { DatabaseAvailability } from '../src/database/database-availability.js';
import { TransactionService } from '../src/database/transaction.service.js';
import { testConfig } from './support/test-app.js';

/**
 * Deni's transactions rely on READ COMMITTED, PostgreSQL's default, which they do not name (a
 * round trip each). Where the server, database or role defaults to another level, they name it.
 */
describe('transactions', () => {
  const config = testConfig();

  /** A TransactionService whose connections default to `level` (as a role or database setting would). */
  async function withDefault(level: string | null): Promise<{ service: TransactionService; ds: DataSource }> {
    const options = dataSourceOptions(config);
    const ds = await new DataSource({
      ...options,
      extra: {
        ...(options.extra as object),
        ...(level ? { options: `-c default_transaction_isolation=${level.replace(' ', '\\ ')}` } : {}),
      },
    }).initialize();
    const availability = new DatabaseAvailability(ds, new ConfigService(config));
    return { service: new TransactionService(ds, availability), ds };
  }

  const levelInside = (service: TransactionService, isolation?: 'READ COMMITTED' | 'SERIALIZABLE') =>
    service.run(async (tx) => {
      const [row] = await tx.manager.query<{ transaction_isolation: string }[]>('SHOW transaction_isolation');
      return row.transaction_isolation;
    }, isolation);

  it.each([
    [null, 'read committed'],
    ['serializable', 'read committed'],
    ['repeatable read', 'read committed'],
  ])('on a server defaulting to %s, runs READ COMMITTED work as %s', async (level, expected) => {
    const { service, ds } = await withDefault(level);
    try {
      expect(await levelInside(service)).toBe(expected);
      expect(await levelInside(service, 'SERIALIZABLE')).toBe('serializable');
    } finally {
      await ds.destroy();
    }
  });
});
