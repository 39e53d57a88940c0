import type { RedisClient } from '../../src/redis/redis-connection.factory.js';

interface SentCommand {
  name: string;
  promise?: Promise<unknown>;
}

type Sending = RedisClient & { sendCommand: (command: SentCommand, ...rest: unknown[]) => unknown };

/** What one piece of work sent to Redis: its commands, and how many round trips it waited for one after another. */
export interface RedisCost {
  commands: string[];
  /**
   * The longest chain of commands each sent only after an earlier one had answered: commands sent
   * together (Promise.all, one tick of auto-pipelining) share a round trip, one sent once another
   * answered (it may depend on that answer) takes a round trip more.
   */
  sequential: number;
}

/**
 * Counts the Redis round trips of `work` on one client (Deni's own: BullMQ has clients of its
 * own). A command's depth is one more than the deepest command that had already answered when it
 * was sent; the deepest depth is the number of round trips the work waited for in sequence. Only
 * commands sent while `work` runs are counted, and `ignore` leaves out background commands that are
 * no part of it (a gauge read now and then).
 */
export async function countRedisRoundTrips(
  redis: RedisClient,
  work: () => Promise<unknown>,
  ignore: readonly string[] = ['zcount'],
): Promise<RedisCost> {
  const client = redis as Sending;
  const send = client.sendCommand.bind(client);
  const commands: string[] = [];
  let answeredDepth = 0;
  let sequential = 0;
  client.sendCommand = (command: SentCommand, ...rest: unknown[]) => {
    const result = send(command, ...rest);
    if (!ignore.includes(command.name)) {
      commands.push(command.name);
      const depth = answeredDepth + 1;
      sequential = Math.max(sequential, depth);
      const done = () => {
        answeredDepth = Math.max(answeredDepth, depth);
      };
      void Promise.resolve(command.promise ?? result).then(done, done);
    }
    return result;
  };
  try {
    await work();
  } finally {
    client.sendCommand = send;
  }
  return { commands: commands.sort(), sequential };
}
