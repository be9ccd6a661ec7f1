// The built CLI as a first-time user meets it: help per command, the database each command
// names and never creates, misspelt ROSTER_* variables, `roster export | head`, the summary of
// `export --out`, and the first admin key a new database prints.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { COMMANDS } from '../../src/cli/commands.js';
import { generatedFile } from '../imports/generated-users.js';
import { CLI_PATH, childEnv, runCli, ServerProcess, tempSqlite, within } from '../helpers/server.js';

const USERS = 20_000;

describe('roster command line, first run', { concurrency: 4 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'roster-cli-e2e-'));
  const db = join(dir, 'roster.db');
  const env = { ROSTER_DATABASE_URL: db };
  before(async () => {
    const migrated = await runCli(['migrate', 'up'], env);
    assert.equal(migrated.code, 0, migrated.stderr);
    const file = join(dir, 'users.csv');
    await pipeline(generatedFile(USERS, 'csv', 7), createWriteStream(file));
    const imported = await runCli(['import', file], { ...env, LOG_LEVEL: 'silent' });
    assert.equal(imported.code, 0, imported.stderr);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const command of Object.keys(COMMANDS)) {
    test(`roster ${command} --help and roster help ${command} print the command's own help`, async () => {
      for (const args of [
        [command, '--help'],
        [command, '-h'],
        ['help', command],
      ]) {
        const result = await runCli(args);
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, new RegExp(`^Usage: roster ${command}\\b`), args.join(' '));
        assert.equal(result.stderr, '', 'no database is named or opened for help');
      }
    });
  }

  test('keys, import and export refuse a database that does not exist, and create nothing', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'roster-cli-elsewhere-'));
    try {
      const missing = join(empty, 'nope', 'roster.db');
      for (const args of [['keys', 'list'], ['export'], ['import', join(dir, 'users.csv'), '--dry-run']]) {
        const result = await runCli(args, { ROSTER_DATABASE_URL: missing });
        assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
        assert.equal(result.stderr.split('\n')[0], `roster: database sqlite:${missing}`, 'the database is named first');
        assert.match(
          result.stderr,
          new RegExp(`^roster: no database at ${missing} \\(${args[0]} never creates one\\): .*roster migrate up`, 'm'),
        );
        assert.equal(result.stdout, '');
      }
      // Run from another directory with the default URL: what `roster keys list` did by mistake.
      const here = await runCli(['keys', 'list'], {}, 60_000, empty);
      assert.equal(here.code, 2, here.stderr);
      assert.match(here.stderr, /^roster: database sqlite:\S+\/data\/roster\.db \(default ROSTER_DATABASE_URL\)\n/);
      assert.ok(!existsSync(join(empty, 'nope')) && !existsSync(join(empty, 'data')), 'no file or folder was created');
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  test('a misspelt ROSTER_* variable is warned about with the name it most likely meant', async () => {
    const result = await runCli(['keys', 'list'], { ...env, ROSTER_DATABSE_URL: '/elsewhere.db' });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.stderr.split('\n').slice(0, 2), [
      'roster: warning: ROSTER_DATABSE_URL is not a Roster variable and is ignored (did you mean ROSTER_DATABASE_URL?)',
      `roster: database sqlite:${db}`,
    ]);
  });

  test('roster export into a pipe closed early (| head -1) ends quietly with exit 0', async () => {
    const child = spawn(process.execPath, [CLI_PATH, 'export'], { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    const first = await within(
      60_000,
      'the first bytes of the export',
      new Promise<Buffer>((resolve) => child.stdout.once('data', resolve)),
    );
    child.stdout.destroy();
    const code = await within(60_000, 'roster export to exit', exited);
    assert.equal(code, 0, stderr);
    assert.equal(stderr, `roster: database sqlite:${db}\n`, 'no EPIPE, no stack');
    const whole = join(dir, 'whole.csv');
    const full = await runCli(['export', '--out', whole], env);
    assert.equal(full.code, 0, full.stderr);
    assert.ok(first.length < statSync(whole).size / 4, 'the reader went away long before the end (the pipe really closed mid-export)');
  });

  test('roster export --out FILE writes the file and prints users, size and time', async () => {
    const out = join(dir, 'export.ndjson');
    const result = await runCli(['export', '--format', 'ndjson', '--out', out], env);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, '');
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    assert.equal(lines.length, USERS);
    const summary = result.stderr.trim().split('\n').at(-1)!;
    assert.match(summary, new RegExp(`^exported 20,000 users \\(\\d+\\.\\d MB\\) to ${out} in \\d+(\\.\\d)? s$`));
  });
});

describe('roster serve on a new database', () => {
  const fresh = tempSqlite();
  let server: ServerProcess;
  before(async () => {
    server = await ServerProcess.start({ databaseUrl: fresh.url, env: { ROSTER_WEBHOOK_WORKER: '4' } });
  });
  after(async () => {
    await server?.stop();
    fresh.cleanup();
  });

  test('prints its first admin key framed on stderr, saying why and how to regain access', () => {
    const notice = server.stderr;
    assert.match(notice, new RegExp(`\\n${server.apiKey}\\n`));
    assert.match(notice, new RegExp(`first admin API key of sqlite:${fresh.url.replace(/[.]/g, '\\.')}`));
    assert.match(notice, /every new database gets its own first key/);
    assert.match(notice, /roster keys create --name admin --scope admin/);
    assert.match(notice, /^─{20,}$/m);
    assert.ok(!server.logText().includes(server.apiKey), 'never in the log');
  });

  test('logs JSON lines when stdout is not a terminal, and warns of a misspelt variable there', () => {
    const warning = server.logs.find((l) => l.variable === 'ROSTER_WEBHOOK_WORKER');
    assert.ok(warning, server.logText());
    assert.equal(warning.level, 'warn');
    assert.equal(warning.did_you_mean, 'ROSTER_WEBHOOK_WORKERS');
    assert.ok(
      server.logs.every((l) => l.raw === undefined),
      'every stdout line is JSON',
    );
  });
});
