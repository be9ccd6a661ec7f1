// CPU cost of the SCIM protocol layer itself (no database: the directory is the in-memory test
// double), each against a same-run baseline doing the same directory work without SCIM, in
// interleaved A/B rounds measured with process.cpuUsage (the machine is shared):
//   lookup  GET /Users?filter=userName eq "…" (parse, plan, find, render, serialise)
//           vs  the directory find + JSON.stringify of the stored user (what GET /v1/users?email= adds)
//   patch   a 1,000-member group PATCH (read the PatchOp, split into one delta)
//           vs  reading the same 1,000 ids from a JSON batch body (the REST batch's parse)
// The end-to-end bench at 1M users and a 100,000-member group (issue 18) needs the real adapters.
// Run: npx tsc -p tsconfig.json && node dist/bench/scim-protocol.js
import { ScimGroups } from '../src/scim/groups.js';
import { readPage } from '../src/scim/paging.js';
import { readPatchRequest } from '../src/scim/patch/operations.js';
import { splitMemberOperations } from '../src/scim/patch/members.js';
import { ScimUsers } from '../src/scim/users.js';
import { MemoryDirectory } from '../test/scim/memory-directory.js';

const call = { signal: new AbortController().signal };
const BASE = 'https://roster.example/scim/v2';
const directory = new MemoryDirectory();
const users = new ScimUsers(directory.users);
void new ScimGroups(directory.groups);

// Few users: find() in the double is a linear scan, and the baseline pays the same scan.
for (let i = 0; i < 50; i++) {
  await users.create(
    { userName: `user${i}@example.com`, name: { givenName: 'Ann', familyName: `Lee ${i}` }, title: 'Engineer' },
    BASE,
    call,
  );
}
const target = 'user37@example.com';
const filter = `userName eq "${target}"`;
const page = readPage('1', '100');

async function scimLookup(): Promise<number> {
  return JSON.stringify(await users.list(filter, page, BASE, {}, call)).length;
}
async function baselineLookup(): Promise<number> {
  const found = await directory.users.find({ email: target }, { offset: 0, limit: 100 }, call);
  return JSON.stringify(found.items[0]).length;
}

const ids = Array.from({ length: 1000 }, (_, i) => `0190c0de-0000-7000-8000-${String(i).padStart(12, '0')}`);
const patchText = JSON.stringify({
  schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
  Operations: [{ op: 'Add', path: 'members', value: ids.map((value) => ({ value })) }],
});
const batchText = JSON.stringify({ add: ids });

function scimPatch(): number {
  return splitMemberOperations(readPatchRequest(JSON.parse(patchText))).members.add.length;
}
function baselinePatch(): number {
  return (JSON.parse(batchText) as { add: string[] }).add.length;
}

function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

async function rounds(
  label: string,
  a: () => number | Promise<number>,
  b: () => number | Promise<number>,
  perRound: number,
): Promise<void> {
  let sink = 0;
  for (let i = 0; i < perRound; i++) sink += (await a()) + (await b());
  const costs: { a: number[]; b: number[] } = { a: [], b: [] };
  for (let round = 0; round < 10; round++) {
    for (const [which, fn] of [
      ['a', a],
      ['b', b],
    ] as const) {
      const start = cpuMicros();
      for (let i = 0; i < perRound; i++) sink += await fn();
      costs[which].push((cpuMicros() - start) / perRound);
    }
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  const [scim, base] = [median(costs.a), median(costs.b)];
  console.log(
    `${label.padEnd(8)} SCIM ${scim.toFixed(2)} µs CPU/op, baseline ${base.toFixed(2)} µs, ratio ${(scim / base).toFixed(2)} (median of 10 interleaved rounds × ${perRound})${sink < 0 ? '!' : ''}`,
  );
}

await rounds('lookup', scimLookup, baselineLookup, 5_000);
await rounds('patch', scimPatch, baselinePatch, 500);
