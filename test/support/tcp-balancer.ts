import { createServer, Socket, type Server } from 'node:net';

/**
 * A TCP load balancer on 127.0.0.1 in front of several HTTP servers on this machine, as an
 * orchestrator's balancer would stand in front of Deni's API processes: each new client connection
 * goes to the next backend in rotation (round robin), and stays with it until either side closes.
 * A backend is in rotation while its readiness URL answers 200 (asked every `intervalMs`). A
 * connection it refuses is sent to another backend instead (nothing was sent to it yet), and the
 * backend leaves rotation until its readiness answers 200 again.
 */
export interface TcpBalancer {
  port: number;
  url: string;
  inRotation(port: number): boolean;
  /** What this backend's readiness answered, in order, repeats left out: 200, 503, `unreachable`. */
  readiness(port: number): (number | 'unreachable')[];
  /** Client connections sent to this backend so far. */
  connections(port: number): number;
  close(): Promise<void>;
}

interface BackendState {
  port: number;
  ready: boolean;
  connections: number;
  readiness: (number | 'unreachable')[];
}

export async function startTcpBalancer(
  ports: number[],
  options: { readinessPath: string; intervalMs: number },
): Promise<TcpBalancer> {
  const backends: BackendState[] = [];
  const sockets = new Set<Socket>();
  let next = 0;
  let closed = false;

  const poll = async (backend: BackendState) => {
    const saw = (answer: number | 'unreachable') => {
      if (backend.readiness.at(-1) !== answer) backend.readiness.push(answer);
    };
    while (!closed) {
      try {
        const res = await fetch(`http://127.0.0.1:${backend.port}${options.readinessPath}`, {
          signal: AbortSignal.timeout(2_000),
        });
        await res.arrayBuffer();
        backend.ready = res.status === 200;
        saw(res.status);
      } catch {
        backend.ready = false;
        saw('unreachable');
      }
      await new Promise((r) => setTimeout(r, options.intervalMs));
    }
  };
  for (const port of ports) {
    // Out of rotation until its readiness first answers 200.
    const backend: BackendState = { port, ready: false, connections: 0, readiness: [] };
    backends.push(backend);
    void poll(backend);
  }

  /** Sends the client to a backend in rotation, another one if it refuses; none left: dropped. */
  const route = (client: Socket, tried: Set<BackendState>) => {
    const candidates = backends.filter((b) => b.ready && !tried.has(b));
    if (candidates.length === 0 || client.destroyed) {
      client.destroy();
      return;
    }
    const backend = candidates[next++ % candidates.length];
    tried.add(backend);
    const upstream = new Socket();
    sockets.add(upstream);
    let connected = false;
    upstream.once('close', () => sockets.delete(upstream));
    upstream.on('error', () => {
      if (connected) client.destroy();
      else {
        // Refused (or reset before anything was sent): out of rotation, the client goes elsewhere.
        backend.ready = false;
        route(client, tried);
      }
    });
    upstream.connect(backend.port, '127.0.0.1', () => {
      connected = true;
      if (client.destroyed) {
        upstream.destroy();
        return;
      }
      backend.connections += 1;
      // Each side's end is passed on to the other once what it sent is through (a response
      // followed by Connection: close reaches the client whole).
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('error', () => upstream.destroy());
      client.once('close', () => upstream.destroy());
      upstream.once('close', (hadError) => {
        if (hadError) client.destroy();
      });
      client.resume();
    });
  };

  const server: Server = createServer({ pauseOnConnect: true }, (client) => {
    if (closed) {
      client.destroy();
      return;
    }
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    route(client, new Set());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const find = (p: number) => backends.find((b) => b.port === p);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    inRotation: (p) => find(p)?.ready ?? false,
    readiness: (p) => [...(find(p)?.readiness ?? [])],
    connections: (p) => find(p)?.connections ?? 0,
    close: async () => {
      closed = true;
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
