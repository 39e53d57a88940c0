import { randomBytes } from 'node:crypto';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { URL } from 'node:url';
import { TestEnvironment } from 'jest-environment-node';
import pg from 'pg';

const RUN_ENV = 'DENI_TEST_RUN';

/**
 * Jest's Node environment, plus a database of the test file's own: a copy of the run's migrated
 * template (made by the global setup), created before the file's first test and dropped after its
 * last. DATABASE_URL and the run's `databaseUrl` (test/support/test-env.ts) name it, both in the
 * file's `process.env` and in the worker's (which child processes inherit), so every helper and
 * every app the file starts uses it, and one file's background jobs (reconciliation, expiry, the
 * offline worker) never act on another file's rows.
 */
export default class DatabaseEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    const raw = process.env[RUN_ENV];
    if (!raw) return; // Jest started without the global setup: nothing to copy
    const run = JSON.parse(raw);
    const url = new URL(run.templateDatabaseUrl);
    this.databaseName = `deni_test_${run.id}_${randomBytes(4).toString('hex')}`;
    url.pathname = `/${this.databaseName}`;
    this.templateName = decodeURIComponent(new URL(run.templateDatabaseUrl).pathname.slice(1));
    this.adminUrl = withPath(run.templateDatabaseUrl, 'postgres');
    this.saved = { [RUN_ENV]: raw, DATABASE_URL: process.env.DATABASE_URL };
    const mine = { [RUN_ENV]: JSON.stringify({ ...run, databaseUrl: url.toString() }), DATABASE_URL: url.toString() };
    Object.assign(process.env, mine);
    Object.assign(this.global.process.env, mine);
  }

  async setup() {
    await super.setup();
    if (!this.databaseName) return;
    await this.admin(async (client) => {
      // Copies made at once by several workers are fine; only a connection to the template would
      // stop one (and nothing connects to it), so a busy template is waited out, not failed on.
      for (let attempt = 1; ; attempt += 1) {
        try {
          await client.query(`CREATE DATABASE ${quote(this.databaseName)} TEMPLATE ${quote(this.templateName)}`);
          return;
        } catch (e) {
          if (e.code !== '55006' || attempt >= 50) throw e;
          await sleep(100);
        }
      }
    });
  }

  async teardown() {
    try {
      if (this.databaseName) {
        // Without FORCE: a connection the file left open keeps its database, which the global
        // teardown drops with the run's others, rather than failing in the file's pool now.
        await this.admin((client) => client.query(`DROP DATABASE IF EXISTS ${quote(this.databaseName)}`)).catch((e) => {
          if (e.code !== '55006') throw e;
        });
        for (const [key, value] of Object.entries(this.saved)) {
          if (value === undefined) delete process.env[key];
          else process.env[key] = value;
        }
      }
    } finally {
      await super.teardown();
    }
  }

  async admin(work) {
    const client = new pg.Client({ connectionString: this.adminUrl });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  }
}

function withPath(url, name) {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

function quote(name) {
  return `"${name.replace(/"/g, '""')}"`;
}
