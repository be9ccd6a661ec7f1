import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo } from 'node:net';
import { ForbiddenTargetError } from '../../src/webhooks/errors.js';
import { guardedLookup } from '../../src/webhooks/ssrf.js';
import { AllowList } from '../../src/kit/allow-list.js';

/** A TCP server on loopback that counts the connections it accepts. */
async function listener(): Promise<{ port: number; accepted: () => number; close: () => Promise<void> }> {
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    socket.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    accepted: () => accepted,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function tryConnect(port: number, lookup: ReturnType<typeof guardedLookup>): Promise<Error | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: 'localhost', port, lookup, family: 4 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (error) => resolve(error));
  });
}

test('net.connect with the guarded lookup and the system resolver: localhost is refused before connecting', async (t) => {
  const server = await listener();
  t.after(() => server.close());
  const error = await tryConnect(server.port, guardedLookup(AllowList.none));
  assert.ok(error instanceof ForbiddenTargetError, String(error));
  assert.equal(error.range, 'loopback');
  assert.equal(server.accepted(), 0);
});

test('net.connect with the guarded lookup: an allow-listed network connects', async (t) => {
  const server = await listener();
  t.after(() => server.close());
  const error = await tryConnect(server.port, guardedLookup(AllowList.parse('127.0.0.0/8, ::1')));
  assert.equal(error, undefined);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(server.accepted(), 1);
});
