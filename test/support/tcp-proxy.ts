import { createServer, Socket, type Server } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 in front of a real server, to simulate outages without touching the
 * shared PostgreSQL or Redis: `cut()` drops every connection and refuses new ones until
 * `restore()`; `stall()` is a network partition instead: connections stay open (new ones are
 * accepted) but no byte goes through until `restore()`.
 */
export interface TcpProxy {
  port: number;
  url(template: string): string;
  cut(): void;
  stall(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let up = true;
  let stalled = false;
  /** Connections waiting for a stall to end (not connected upstream yet). */
  const held = new Map<Socket, () => void>();
  const server: Server = createServer((client) => {
    if (!up) {
      client.destroy();
      return;
    }
    sockets.add(client);
    if (stalled) {
      client.pause();
      held.set(client, () => connect(client));
      return;
    }
    connect(client);
  });
  const connect = (client: Socket) => {
    if (client.destroyed) return;
    const upstream = new Socket();
    sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    upstream.connect(targetPort, targetHost, () => {
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: (template) => {
      const u = new URL(template);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    cut: () => {
      up = false;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    stall: () => {
      stalled = true;
      for (const s of sockets) s.pause();
    },
    restore: () => {
      up = true;
      if (stalled) {
        stalled = false;
        // A held client is resumed once it is piped upstream (connect): resumed before, what it
        // sent would flow away with nowhere to go.
        for (const s of sockets) if (!held.has(s)) s.resume();
        const waiting = [...held.values()];
        held.clear();
        for (const connectHeld of waiting) connectHeld();
      }
    },
    close: async () => {
      up = false;
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
