import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { callersTable, callsPerRequest, inclusiveCostTable, readDump, selfCostTable, totalInstructions } from '../../bench/callgrind.js';

// A dump in callgrind's format with name compression: `main` calls `work` (a symbol) and JIT code
// known only by its address; the line after `calls=` is the call's inclusive cost.
const DUMP = [
  'version: 1',
  'creator: callgrind-3.19.0',
  'events: Ir',
  'ob=(1) /usr/bin/node',
  'fl=(1) ???',
  'fn=(1) main',
  '10 100',
  'cfn=(2) work',
  'calls=3 20',
  '11 900',
  'cfn=(3) 0x000000000d24cb00',
  'calls=1 0',
  '+2 400',
  '+1 50',
  'fn=(2)',
  '20 600',
  '* 300',
  'fn=(3)',
  '0 400',
  'totals: 1450',
  '',
].join('\n');

const PERF_MAP = ['d24cb00 80 JS:*hot file:///app/hot.js:1:1', 'd24cc00 10 JS:*other file:///app/other.js:2:2'].join('\n');

describe('callgrind dumps', () => {
  test('the total comes from the totals line', () => {
    assert.equal(totalInstructions(DUMP), 1450);
    assert.throws(() => totalInstructions('events: Ir\n'), /no totals/);
  });

  test('self cost leaves out what calls cost, and JIT addresses are named from the perf map', () => {
    const rows = selfCostTable(readDump(DUMP), PERF_MAP, 10, 10).split('\n');
    // work: 600 + 300 own; hot (JIT): 400; main: 100 + 50 own (its 900 and 400 were its calls).
    assert.deepEqual(
      rows.map((row) => row.replace(/\s+/g, ' ').trim()),
      ['0.09 k 62.1% node work', '0.04 k 27.6% node JS:*hot file:///app/hot.js:1:1', '0.01 k 10.3% node main'],
    );
  });

  test('calls are counted by the callee named, per request', () => {
    assert.equal(callsPerRequest(readDump(DUMP), 'work', 1), 3);
    assert.equal(callsPerRequest(readDump(DUMP), '0x000000000d24cb00', 2), 0.5);
    assert.equal(callsPerRequest(readDump(DUMP), 'main', 1), 0);
  });

  test('the inclusive table lists JavaScript functions with what their calls cost', () => {
    // JIT code `hot` (100 own) calls `work` (a symbol, 900 own): hot's 1000 in all; work is no JavaScript.
    const dump = readDump(
      [
        'events: Ir',
        'ob=(1) /usr/bin/node',
        'fn=(1) 0x000000000d24cb00',
        '0 100',
        'cfn=(2) work',
        'calls=2 20',
        '1 900',
        'fn=(2)',
        '20 900',
        'totals: 1000',
        '',
      ].join('\n'),
    );
    const rows = inclusiveCostTable(dump, PERF_MAP, 10, 10).split('\n');
    assert.deepEqual(
      rows.map((row) => row.replace(/\s+/g, ' ').trim()),
      ['0.10 k 100.0% node JS:*hot file:///app/hot.js:1:1'],
    );
  });

  test('the callers table sums what each caller spent in the functions named, JIT callers named', () => {
    // `helper` is called by main (twice, 300 in all) and by JIT code `hot` (500); `other` by main.
    const dump = readDump(
      [
        'events: Ir',
        'ob=(1) /usr/bin/node',
        'fn=(1) main',
        '0 10',
        'cfn=(2) Builtins_helper',
        'calls=1 20',
        '1 100',
        'cfn=(2)',
        'calls=1 20',
        '2 200',
        'cfn=(3) other',
        'calls=1 30',
        '3 700',
        'fn=(4) 0x000000000d24cb00',
        '0 10',
        'cfn=(2)',
        'calls=5 20',
        '1 500',
        'fn=(2)',
        '20 800',
        'fn=(3)',
        '30 700',
        'totals: 1520',
        '',
      ].join('\n'),
    );
    const rows = callersTable(dump, PERF_MAP, 10, 'helper', 10).split('\n');
    // Per request (10): hot 500, main 300; each row's share of the whole run left out (column 3).
    assert.deepEqual(
      rows.map((row) =>
        row
          .replace(/\s+/g, ' ')
          .trim()
          .split(' ')
          .filter((_, i) => i !== 2)
          .join(' '),
      ),
      ['0.05 k node JS:*hot file:///app/hot.js:1:1', '0.03 k node main'],
    );
    assert.equal(callersTable(dump, PERF_MAP, 10, 'nobody', 10), '');
  });

  test('an address the perf map does not cover keeps its address', () => {
    assert.match(selfCostTable(readDump(DUMP), '', 10, 10), /0x000000000d24cb00/);
  });
});
