import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Redis } from 'ioredis';
import { drive } from '../bench/driver.js';
import { firstDials, navigation, type Journey } from '../bench/journeys.js';
import { createPeerApp } from '../bench/peer/peer-app.js';
import { ownRedisPrefix, startTestApp } from './support/test-app.js';
import { currentRun } from './support/test-env.js';
import { MAIN_MENU, SCREENS } from './support/ussd-clients.js';

/**
 * What `npm run bench` compares must be comparable: the peer (Express + ussd-menu-builder) shows
 * Deni's screens for the bench's navigation journey, and with several instances every step of a
 * journey goes to another instance than the step before. Correctness only: no timing is asserted.
 */

const listening = (server: Server) =>
  new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
const closed = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

describe('the bench peer', () => {
  let deni: NestFastifyApplication;
  let redis: Redis;
  let peer: Server;
  let peerPort: number;

  beforeAll(async () => {
    ({ app: deni } = await startTestApp());
    redis = new Redis(currentRun().redisUrl, { keyPrefix: `${ownRedisPrefix()}:peer:` });
    peer = createServer(createPeerApp({ redis }));
    peerPort = await listening(peer);
  });
  afterAll(async () => {
    await closed(peer);
    await Promise.all([redis?.quit(), deni?.close()]);
  });

  /** Runs journey number `n` on Deni and on the peer: each step's replies, side by side. */
  async function both(journey: Journey, n: number) {
    const ctx = journey.begin(n);
    const replies: { expect: string; deni: string; peer: string; types: (string | undefined)[] }[] = [];
    for (let i = 0; i < journey.steps; i++) {
      const step = journey.step(i, ctx);
      const req = step.request(ctx);
      const fromDeni = await deni.inject({
        method: req.method,
        url: req.path,
        headers: req.headers,
        payload: req.body,
      });
      const fromPeer = await fetch(`http://127.0.0.1:${peerPort}${req.path}`, {
        method: req.method,
        headers: req.headers,
        body: req.body,
      });
      expect([fromDeni.statusCode, fromPeer.status]).toEqual([200, 200]);
      replies.push({
        expect: step.expect,
        deni: fromDeni.body,
        peer: await fromPeer.text(),
        types: [String(fromDeni.headers['content-type']), fromPeer.headers.get('content-type') ?? undefined],
      });
    }
    return replies;
  }

  it("shows Deni's screens, byte for byte, at every step of the bench's navigation", async () => {
    const journey = navigation(undefined, true);
    for (const n of [0, 7]) {
      const replies = await both(journey, n);
      const [, lender, amount, repayment] = journey.begin(n).inputs;
      // Deni's screens as the rules give them (the navigation ends by cancelling: the main menu).
      expect(replies.map((r) => r.deni)).toEqual(
        [
          MAIN_MENU,
          SCREENS.lenderPhone,
          SCREENS.amount,
          SCREENS.repayment,
          SCREENS.confirm(`254${lender.slice(1)}`, Number(amount), Number(repayment)),
          MAIN_MENU,
        ].map((screen) => `CON ${screen}`),
      );
      for (const r of replies) {
        expect(r.peer).toBe(r.deni);
        expect(r.deni).toContain(r.expect);
        expect(r.types[1]).toBe(r.types[0]);
      }
    }
  });

  it('shows the same screens to a number never seen before (the first-dial scenario)', async () => {
    const replies = await both(firstDials(undefined), 123_456);
    for (const r of replies) expect(r.peer).toBe(r.deni);
    expect(replies[0].deni).toBe(`CON ${MAIN_MENU}`);
  });
});

describe('the bench driver with several instances', () => {
  it('sends the steps of a journey to the instances in turn', async () => {
    const seen = new Map<string, number[]>();
    const servers = [0, 1].map((k) =>
      createServer((req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          const session = new URLSearchParams(body).get('sessionId') ?? '';
          seen.set(session, [...(seen.get(session) ?? []), k]);
          res.setHeader('content-type', 'text/plain');
          res.end('CON M-PESA LOANS');
        });
      }),
    );
    const ports = await Promise.all(servers.map(listening));
    try {
      const measured = await drive(ports, navigation(undefined, false), 1, 6);
      expect(measured.errors).toEqual({ non2xx: 0, wrongScreen: 0, transport: 0, timeouts: 0 });
      const journeys = [...seen.values()];
      const whole = journeys.filter((steps) => steps.length === 6);
      expect(whole.length).toBeGreaterThanOrEqual(measured.journeys);
      expect(measured.journeys).toBeGreaterThan(0);
      // Journeys start on both instances, and each whole one was answered by both.
      expect(new Set(whole.map((steps) => steps[0]))).toEqual(new Set([0, 1]));
      for (const steps of whole) expect(new Set(steps)).toEqual(new Set([0, 1]));
      // A step goes to the same instance as the one before only when the driver says so (two
      // instances answering alike: seldom, if ever).
      const repeats = journeys.reduce((n, steps) => n + steps.filter((k, i) => i > 0 && k === steps[i - 1]).length, 0);
      expect(repeats).toBeLessThanOrEqual(measured.sameInstanceSteps);
      expect(measured.sameInstanceSteps).toBeLessThan(measured.steps / 10);
    } finally {
      await Promise.all(servers.map(closed));
    }
  });
});
