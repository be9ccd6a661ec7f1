import type { ChildProcess } from 'node:child_process';

/** Which server a benchmark child runs (see bench/servers.ts). */
export type ServerKind = 'bare' | 'fastify-sqlite' | 'fastify-postgres' | 'scale-sqlite' | 'scale-postgres' | 'roster' | 'roster-no-auth';

/** Parent → child. */
export type Command =
  { type: 'usage' } | { type: 'profile-start'; intervalUs: number } | { type: 'profile-stop'; file: string } | { type: 'stop' };

/** Child → parent. */
export type Reply =
  | {
      type: 'ready';
      url: string;
      /** `Authorization` header value to send, when the server requires one. */
      authorization?: string;
      /** Resident set size after start and a settle (1 s idle, then a full GC when exposed), before any request. */
      idleRssBytes: number;
      /** `process.version` of the server: the benchmark may run servers under another Node.js. */
      nodeVersion: string;
    }
  | { type: 'usage'; cpuMicros: number; rssBytes: number }
  | { type: 'profile-started' }
  | { type: 'profile-stopped'; file: string }
  | { type: 'failed'; message: string };

/** Sends `command` and resolves with the first reply of type `expect`, or rejects after `timeoutMs`. */
export function ask<T extends Reply['type']>(
  child: ChildProcess,
  command: Command,
  expect: T,
  timeoutMs: number,
): Promise<Extract<Reply, { type: T }>> {
  const reply = awaitReply(child, expect, timeoutMs);
  try {
    child.send(command);
  } catch (error) {
    reply.catch(() => undefined);
    throw error;
  }
  return reply;
}

/** Waits for the child's first message of type `expect` without sending anything. */
export function awaitReply<T extends Reply['type']>(
  child: ChildProcess,
  expect: T,
  timeoutMs: number,
): Promise<Extract<Reply, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`child ${child.pid} sent no "${expect}" within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (message: Reply) => {
      if (message.type === 'failed') finish(new Error(`child ${child.pid}: ${message.message}`));
      else if (message.type === expect) finish(undefined, message as Extract<Reply, { type: T }>);
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
      finish(new Error(`child ${child.pid} exited (code ${code}, signal ${signal}) before "${expect}"`));
    function finish(error: Error | undefined, reply?: Extract<Reply, { type: T }>) {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(reply!);
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}
