// End to end: the built CLI's command line and configuration errors. A bad value exits 2 with
// one stderr line naming the key (and never echoing a secret); help lists every key.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { CONFIG_KEYS } from '../../src/config.js';
import { runCli, tempSqlite } from '../helpers/server.js';

// Each case spawns a fresh Node process (about a second of start-up): run a few at a time.
describe('roster command line', { concurrency: 4 }, () => {
  const db = tempSqlite();
  after(() => db.cleanup());

  const badValues: [key: string, value: string, secret: boolean][] = [
    ['PORT', 'abc', false],
    ['LOG_LEVEL', 'loud', false],
    ['ROSTER_SHUTDOWN_TIMEOUT_MS', '-1', false],
    ['ROSTER_DATABASE_URL', 'postgres://%%%', true],
    ['ROSTER_DATABASE_URL', 'postgres://user:hunter2@', true],
  ];
  for (const [key, value, secret] of badValues) {
    test(`serve with ${key}=${value} exits 2 with one line naming ${key}`, async () => {
      const result = await runCli(['serve'], { ROSTER_DATABASE_URL: db.url, [key]: value });
      assert.deepEqual({ code: result.code, signal: result.signal }, { code: 2, signal: null }, result.stderr);
      const lines = result.stderr.split('\n').filter((l) => l !== '');
      assert.equal(lines.length, 1, `stderr: ${result.stderr}`);
      assert.match(lines[0]!, new RegExp(`^roster: configuration error: ${key}\\b`));
      if (secret) {
        assert.ok(!result.stderr.includes(value), 'the secret value is not echoed');
        assert.doesNotMatch(result.stderr, /hunter2/);
      } else {
        assert.ok(result.stderr.includes(value), 'the bad value is shown so it can be fixed');
      }
      assert.equal(result.stdout, '', 'nothing else is printed (no server started)');
    });
  }

  for (const args of [['--help'], ['serve', '--help']]) {
    test(`roster ${args.join(' ')} prints usage with every configuration key`, async () => {
      const result = await runCli(args);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, args[0] === 'serve' ? /^Usage: roster serve\n/ : /^Usage: roster <command>/);
      for (const spec of CONFIG_KEYS) assert.ok(result.stdout.includes(spec.env), `help lists ${spec.env}`);
      assert.match(result.stdout, /ROSTER_DATABASE_URL\s+.*secret/);
      if (args[0] === '--help') {
        for (const command of ['serve', 'migrate', 'keys', 'import', 'export']) {
          assert.match(result.stdout, new RegExp(`^  ${command}\\b`, 'm'), `--help lists ${command}`);
        }
      }
      assert.equal(result.stderr, '');
    });
  }

  test('roster --version prints the package version', async () => {
    const result = await runCli(['--version']);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /^\d+\.\d+\.\d+/);
  });

  for (const [args, mention, help] of [
    [['frobnicate'], 'unknown command "frobnicate"', 'roster --help'],
    [['--bogus-option'], 'bogus-option', 'roster --help'],
    [['serve', 'extra'], 'serve takes no arguments', 'roster serve --help'],
    [['export', '--name', 'x'], "'--name'", 'roster export --help'],
  ] as const) {
    test(`roster ${args.join(' ')} exits 2 with one line pointing at ${help}`, async () => {
      const result = await runCli(args, { ROSTER_DATABASE_URL: db.url });
      assert.equal(result.code, 2, result.stderr);
      const lines = result.stderr.split('\n').filter((l) => l !== '');
      assert.equal(lines.length, 1, `stderr: ${result.stderr}`);
      assert.ok(lines[0]!.includes(mention), lines[0]);
      assert.ok(lines[0]!.endsWith(`(see ${help})`), lines[0]);
      assert.equal(result.stdout, '');
    });
  }

  test('roster migrate up, status, down, status on a fresh file', async () => {
    const fresh = tempSqlite();
    try {
      const env = { ROSTER_DATABASE_URL: fresh.url };
      const up = await runCli(['migrate', 'up'], env);
      assert.equal(up.code, 0, up.stderr);
      const applied = up.stdout.split('\n').filter((l) => l !== '');
      assert.ok(applied.length >= 1);
      for (const line of applied) assert.match(line, /^\d{4}_\w+\tapplied$/);
      assert.equal(applied[0], '0001_users\tapplied');
      const names = applied.map((l) => l.split('\t')[0]!);

      const again = await runCli(['migrate', 'up'], env);
      assert.equal(again.stdout, 'already up to date\n');

      const status = (await runCli(['migrate', 'status'], env)).stdout.split('\n').filter((l) => l !== '');
      assert.deepEqual(
        status.map((l) => l.split('\t')[0]),
        names,
      );
      for (const line of status) assert.match(line, /\tapplied \d{4}-\d{2}-\d{2}T/);

      const down = await runCli(['migrate', 'down'], env);
      assert.equal(down.code, 0, down.stderr);
      assert.equal(down.stdout, `${names.at(-1)}\treverted\n`, 'down reverts only the last migration');
      const after = (await runCli(['migrate', 'status'], env)).stdout.split('\n').filter((l) => l !== '');
      assert.equal(after.at(-1), `${names.at(-1)}\tpending`);
      for (const line of after.slice(0, -1)) assert.match(line, /\tapplied /);
    } finally {
      fresh.cleanup();
    }
  });

  test('roster migrate up and status print the users whose emails now fold together (migration 0008)', async () => {
    const fresh = tempSqlite();
    try {
      const env = { ROSTER_DATABASE_URL: fresh.url };
      assert.equal((await runCli(['migrate', 'up'], env)).code, 0);
      // Down one at a time, whatever came after 0008, until 0008 itself is reverted.
      const reverted: string[] = [];
      while (reverted.at(-1) !== '0008_fold_keys\treverted\n' && reverted.length < 50) {
        reverted.push((await runCli(['migrate', 'down'], env)).stdout);
      }
      assert.deepEqual(reverted.slice(-3), [
        '0010_postgres_uuid_ids\treverted\n',
        '0009_search_key_ranges\treverted\n',
        '0008_fold_keys\treverted\n',
      ]);
      const file = new Database(fresh.url);
      const insert = file.prepare(`insert into users (id, email, email_key, name, name_key, attributes, version, created_at, updated_at)
        values (?, ?, lower(?), 'N', 'n', '{}', 1, ?, ?)`);
      insert.run('u-old', 'Straße@example.com', 'straße@example.com', '2024-01-01T00:00:00.000Z', '2024-01-01T00:00:00.000Z');
      insert.run('u-new', 'strasse@example.com', 'strasse@example.com', '2024-02-01T00:00:00.000Z', '2024-02-01T00:00:00.000Z');
      file.close();
      const expected =
        /user\(s\) kept their old email key[^\n]*\nuser u-old <Straße@example\.com>\tfolds to strasse@example\.com, held by user u-new\n$/;
      const up = await runCli(['migrate', 'up'], env);
      assert.equal(up.code, 0, up.stderr);
      assert.match(
        up.stdout,
        /^0008_fold_keys\tapplied\n0009_search_key_ranges\tapplied\n0010_postgres_uuid_ids\tapplied\n(?:\d{4}_\w+\tapplied\n)*\n1 user/,
      );
      assert.match(up.stdout, expected);
      assert.match((await runCli(['migrate', 'status'], env)).stdout, expected);
    } finally {
      fresh.cleanup();
    }
  });
});
