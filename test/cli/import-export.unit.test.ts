import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { whileDisplayed } from '../../src/cli/import-export.js';

/** A progress display and an error report that record being closed. */
function display(closeFails = false) {
  const closed: string[] = [];
  return {
    closed,
    progress: { stop: () => void closed.push('progress') },
    report: {
      close: async () => {
        closed.push('report');
        if (closeFails) throw new Error('disk full');
      },
    },
  };
}

describe('whileDisplayed (roster import)', () => {
  test('closes the progress display, then the error report, after the run', async () => {
    const d = display();
    assert.equal(await whileDisplayed(d, async () => 'done'), 'done');
    assert.deepEqual(d.closed, ['progress', 'report']);
  });

  test('an unexpected error still closes both, and is the one thrown', async () => {
    const d = display();
    await assert.rejects(
      whileDisplayed(d, async () => {
        throw new Error('database gone');
      }),
      { message: 'database gone' },
    );
    assert.deepEqual(d.closed, ['progress', 'report']);
  });

  test('a report that cannot be closed after an error does not hide that error', async () => {
    const d = display(true);
    await assert.rejects(
      whileDisplayed(d, async () => {
        throw new Error('database gone');
      }),
      { message: 'database gone' },
    );
    assert.deepEqual(d.closed, ['progress', 'report']);
  });

  test('a report that cannot be closed after a run is an error', async () => {
    const d = display(true);
    await assert.rejects(
      whileDisplayed(d, async () => 'done'),
      { message: 'disk full' },
    );
  });

  test('no error report: only the display is stopped', async () => {
    const closed: string[] = [];
    await whileDisplayed({ progress: { stop: () => void closed.push('progress') } }, async () => undefined);
    assert.deepEqual(closed, ['progress']);
  });
});
