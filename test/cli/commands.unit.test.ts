import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { COMMANDS, isCommand, usage, type CommandSpec } from '../../src/cli/commands.js';
import { exportSummary, formatBytes } from '../../src/cli/import-export.js';
import { describeUnknown, isClosedPipe } from '../../src/cli/output.js';

describe('roster <command> --help', () => {
  for (const [name, spec] of Object.entries(COMMANDS) as [string, CommandSpec][]) {
    test(`${name}: its own usage, naming every option it accepts`, () => {
      assert.match(spec.help, new RegExp(`^Usage: roster ${name}\\b`));
      for (const option of Object.keys(spec.options)) assert.match(spec.help, new RegExp(`--${option}\\b`), `--${option}`);
      assert.match(spec.help, /Exit status:/);
      assert.match(
        usage(),
        new RegExp(`^  ${spec.synopsis.replace(/[|]/g, '\\|')}\\s+${spec.summary.slice(0, 20).replace(/[()?|]/g, '\\$&')}`, 'm'),
      );
    });
  }

  test('the commands that never create a database say so in their help; serve and migrate may create one', () => {
    for (const [name, spec] of Object.entries(COMMANDS) as [string, CommandSpec][]) {
      assert.equal(spec.createsDatabase, ['serve', 'migrate'].includes(name), name);
      if (!spec.createsDatabase) assert.match(spec.help, /never\s+created/, name);
    }
  });

  test('keys --help says how to regain admin access', () => {
    assert.match(COMMANDS.keys.help, /roster keys create --name admin --scope admin/);
  });

  test('isCommand knows the commands and nothing inherited', () => {
    assert.ok(isCommand('export'));
    assert.ok(!isCommand('toString'));
    assert.ok(!isCommand('help'));
  });
});

describe('roster export --out summary', () => {
  test('users, size and time', () => {
    assert.equal(
      exportSummary({ users: 12_345, bytes: 1_234_567, seconds: 0.84, file: 'users.csv' }),
      'exported 12,345 users (1.2 MB) to users.csv in 0.8 s',
    );
    assert.equal(exportSummary({ users: 1, bytes: 80, seconds: 12.4, file: 'one.ndjson' }), 'exported 1 user (80 B) to one.ndjson in 12 s');
  });

  test('sizes in decimal units', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(999), '999 B');
    assert.equal(formatBytes(1000), '1.0 kB');
    assert.equal(formatBytes(45_000_000), '45.0 MB');
    assert.equal(formatBytes(3.2e12), '3.2 TB');
    assert.equal(formatBytes(5e15), '5000.0 TB');
  });
});

test('a closed pipe is recognised by its codes, other errors are not', () => {
  for (const code of ['EPIPE', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED'])
    assert.ok(isClosedPipe(Object.assign(new Error(code), { code })));
  assert.ok(!isClosedPipe(Object.assign(new Error('disk full'), { code: 'ENOSPC' })));
  assert.ok(!isClosedPipe(undefined));
});

test('an unknown variable is named with its suggestion', () => {
  assert.equal(
    describeUnknown({ name: 'ROSTER_DATABSE_URL', suggestion: 'ROSTER_DATABASE_URL' }),
    'ROSTER_DATABSE_URL is not a Roster variable and is ignored (did you mean ROSTER_DATABASE_URL?)',
  );
  assert.equal(describeUnknown({ name: 'ROSTER_X', suggestion: undefined }), 'ROSTER_X is not a Roster variable and is ignored');
});
