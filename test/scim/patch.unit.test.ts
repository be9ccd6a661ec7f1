import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ScimError } from '../../src/scim/errors.js';
import { ScimGroups } from '../../src/scim/groups.js';
import { applyPatch } from '../../src/scim/patch/engine.js';
import { readPatchRequest } from '../../src/scim/patch/operations.js';
import { ENTERPRISE_USER_SCHEMA_ID as ENT, PATCH_OP_SCHEMA_ID, USER_RESOURCE } from '../../src/scim/schema/definitions.js';
import { normaliseResource } from '../../src/scim/schema/normalise.js';
import { ScimUsers } from '../../src/scim/users.js';
import { hostileParameters } from '../helpers/hostile.js';
import { MemoryDirectory } from './memory-directory.js';

const call = { signal: new AbortController().signal };
const BASE = 'https://roster.example/scim/v2';
const patchBody = (...Operations: unknown[]) => ({ schemas: [PATCH_OP_SCHEMA_ID], Operations });
const apply = (doc: Record<string, unknown>, ...ops: unknown[]) =>
  applyPatch(USER_RESOURCE, normaliseResource(USER_RESOURCE, doc), readPatchRequest(patchBody(...ops)));
const scimType = (type: string) => (error: unknown) => error instanceof ScimError && error.scimType === type;

describe('PATCH engine (RFC 7644 §3.5.2 and the RFC examples)', () => {
  const base = { userName: 'bjensen@example.com', emails: [{ value: 'bjensen@example.com', type: 'work', primary: true }] };

  test('add to a multi-valued attribute merges; an existing value is no change', () => {
    const once = apply(base, { op: 'add', path: 'emails', value: [{ value: 'babs@jensen.org', type: 'home' }] });
    assert.equal((once.emails as unknown[]).length, 2);
    const twice = apply(once, { op: 'add', path: 'emails', value: [{ value: 'BABS@jensen.org', type: 'home' }] });
    assert.deepStrictEqual(twice, once);
  });

  test('a new primary value demotes the old one', () => {
    const doc = apply(base, { op: 'add', path: 'emails', value: { value: 'b@x.io', primary: true } });
    assert.deepStrictEqual(
      (doc.emails as { primary?: boolean }[]).map((e) => e.primary),
      [false, true],
    );
  });

  test('replace with a filtered path and a sub-attribute creates the element when absent', () => {
    const doc = apply(base, { op: 'Replace', path: 'addresses[type eq "work"].streetAddress', value: '100 Universal City Plaza' });
    assert.deepStrictEqual(doc.addresses, [{ type: 'work', streetAddress: '100 Universal City Plaza' }]);
    const again = apply(doc, { op: 'replace', path: 'addresses[type eq "work"].locality', value: 'Hollywood' });
    assert.deepStrictEqual(again.addresses, [{ type: 'work', streetAddress: '100 Universal City Plaza', locality: 'Hollywood' }]);
  });

  test('no path: dotted, URN-qualified and extension-object keys, booleans as strings, op in any case', () => {
    const doc = apply(
      base,
      { op: 'REPLACE', value: { 'name.givenName': 'Barbara', [`${ENT}:department`]: 'Tour', active: 'False' } },
      {
        op: 'Add',
        value: { [ENT]: { division: 'West', manager: { value: 'm1' } }, 'urn:ietf:params:scim:schemas:core:2.0:User:title': 'Boss' },
      },
    );
    assert.deepStrictEqual(doc.name, { givenName: 'Barbara' });
    assert.deepStrictEqual(doc[ENT], { department: 'Tour', division: 'West', manager: { value: 'm1' } });
    assert.equal(doc.active, false);
    assert.equal(doc.title, 'Boss');
  });

  test('replace of a complex attribute keeps the sub-attributes it does not name', () => {
    const doc = apply(
      { ...base, name: { givenName: 'B', familyName: 'Jensen' } },
      { op: 'replace', path: 'name', value: { givenName: 'Barbara' } },
    );
    assert.deepStrictEqual(doc.name, { givenName: 'Barbara', familyName: 'Jensen' });
  });

  test('remove: an attribute, matching elements, listed elements, a sub-attribute', () => {
    const doc = {
      ...base,
      title: 'x',
      phoneNumbers: [
        { value: '1', type: 'work' },
        { value: '2', type: 'home' },
        { value: '3', type: 'home' },
      ],
    };
    assert.equal(apply(doc, { op: 'remove', path: 'title' }).title, undefined);
    assert.deepStrictEqual(apply(doc, { op: 'remove', path: 'phoneNumbers[type eq "home"]' }).phoneNumbers, [{ value: '1', type: 'work' }]);
    assert.deepStrictEqual(apply(doc, { op: 'remove', path: 'phoneNumbers', value: [{ value: '1' }, { value: '3' }] }).phoneNumbers, [
      { value: '2', type: 'home' },
    ]);
    assert.deepStrictEqual(apply(doc, { op: 'remove', path: 'phoneNumbers[value eq "1"].type' }).phoneNumbers, [
      { value: '1' },
      { value: '2', type: 'home' },
      { value: '3', type: 'home' },
    ]);
    assert.equal(apply(doc, { op: 'remove', path: 'phoneNumbers' }).phoneNumbers, undefined);
    assert.deepStrictEqual(apply(doc, { op: 'remove', path: 'phoneNumbers[type eq "fax"]' }), normaliseResource(USER_RESOURCE, doc));
  });

  test('refusals', () => {
    assert.throws(() => apply(base, { op: 'remove', path: 'userName' }), scimType('mutability'));
    assert.throws(() => apply(base, { op: 'replace', path: 'userName', value: null }), scimType('mutability'));
    assert.throws(() => apply(base, { op: 'replace', path: 'id', value: 'x' }), scimType('mutability'));
    assert.throws(() => apply(base, { op: 'add', path: 'meta.version', value: 'x' }), scimType('mutability'));
    assert.throws(() => apply(base, { op: 'add', path: 'title.x', value: 'x' }), scimType('invalidPath'));
    assert.throws(() => apply(base, { op: 'add', path: 'title[type eq "x"]', value: 'x' }), scimType('invalidPath'));
    assert.throws(() => apply(base, { op: 'add', path: 'emails[type eq', value: 'x' }), scimType('invalidFilter'));
    assert.throws(() => apply(base, { op: 'add', path: 'emails[type ne "work"].value', value: 'x' }), scimType('noTarget'));
    assert.throws(() => apply(base, { op: 'replace', path: 'active', value: 'nope' }), scimType('invalidValue'));
    assert.throws(() => apply(base, { op: 'replace', value: 'x' }), scimType('invalidValue'));
    assert.throws(() => readPatchRequest(patchBody()), scimType('invalidSyntax'));
    assert.throws(() => readPatchRequest({ Operations: [{ op: 'add', path: 'title', value: 'x' }] }), scimType('invalidSyntax'));
    assert.throws(() => readPatchRequest(patchBody({ op: 'add', path: 'title' })), scimType('invalidSyntax'));
    assert.throws(() => readPatchRequest(patchBody({ op: 'copy', path: 'title', value: 1 })), scimType('invalidSyntax'));
  });

  test('password is accepted and dropped', () => {
    assert.equal(apply(base, { op: 'replace', path: 'password', value: 'secret' }).password, undefined);
    assert.equal(apply(base, { op: 'replace', value: { password: 'secret' } }).password, undefined);
  });
});

// ---- property: PATCH then GET gives what the operations describe ------------------------------

type Model = { title?: string; displayName: string; active: boolean; givenName?: string; department?: string; workEmail?: string };
type Step = { attr: keyof Model; value: string | boolean | undefined; form: number; opCase: number };

const text = fc.stringMatching(/^[A-Za-z][A-Za-z0-9 ]{0,11}$/);
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ attr: fc.constant('title' as const), value: fc.option(text, { nil: undefined }), form: fc.nat(2), opCase: fc.nat(2) }),
  fc.record({ attr: fc.constant('displayName' as const), value: text, form: fc.nat(2), opCase: fc.nat(2) }),
  fc.record({ attr: fc.constant('active' as const), value: fc.boolean(), form: fc.nat(3), opCase: fc.nat(2) }),
  fc.record({ attr: fc.constant('givenName' as const), value: fc.option(text, { nil: undefined }), form: fc.nat(2), opCase: fc.nat(2) }),
  fc.record({ attr: fc.constant('department' as const), value: fc.option(text, { nil: undefined }), form: fc.nat(2), opCase: fc.nat(2) }),
  fc.record({
    attr: fc.constant('workEmail' as const),
    value: fc.option(
      text.map((t) => `${t.replaceAll(' ', '')}@w.example`),
      { nil: undefined },
    ),
    form: fc.nat(0),
    opCase: fc.nat(2),
  }),
);

/** One step as a provider might send it: path form, no-path form (dotted, URN, nested), op name in any case. */
function operationOf(s: Step): unknown {
  const name = (op: string) => [op, op[0]!.toUpperCase() + op.slice(1), op.toUpperCase()][s.opCase]!;
  const paths: Record<keyof Model, string> = {
    title: 'title',
    displayName: 'displayName',
    active: 'active',
    givenName: 'name.givenName',
    department: `${ENT}:department`,
    workEmail: 'emails[type eq "work"].value',
  };
  if (s.value === undefined) return { op: name('remove'), path: paths[s.attr] };
  const value = s.attr === 'active' && s.form === 3 ? (s.value ? 'True' : 'false') : s.value;
  if (s.form === 0 || s.attr === 'workEmail') return { op: name('replace'), path: paths[s.attr], value };
  if (s.form === 1) return { op: name('add'), value: { [paths[s.attr]]: value } };
  const nested: Record<keyof Model, unknown> = {
    title: { 'urn:ietf:params:scim:schemas:core:2.0:User:title': value },
    displayName: { displayName: value },
    active: { active: value },
    givenName: { name: { givenName: value } },
    department: { [ENT]: { department: value } },
    workEmail: {},
  };
  return { op: name('replace'), value: nested[s.attr] };
}

describe('PATCH then GET gives what the operations describe', () => {
  test('users (property)', async () => {
    const directory = new MemoryDirectory();
    const users = new ScimUsers(directory.users);
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 8 }), async (steps) => {
        const created = await users.create({ userName: `p${n++}@example.com`, displayName: 'Start' }, BASE, call);
        const id = created.body.id as string;
        const model: Model = { displayName: 'Start', active: true };
        for (const s of steps) {
          if (s.value === undefined) delete model[s.attr];
          else (model as Record<string, unknown>)[s.attr] = s.value;
        }
        await users.patch(id, patchBody(...steps.map(operationOf)), undefined, BASE, call);
        const got = (await users.get(id, BASE, {}, call)).body as {
          title?: string;
          displayName?: string;
          active?: boolean;
          name?: { givenName?: string };
          emails?: { type?: string; value?: string }[];
        } & Record<string, { department?: string } | undefined>;
        assert.equal(got.title, model.title);
        assert.equal(got.displayName, model.displayName);
        assert.equal(got.active, model.active);
        assert.equal(got.name?.givenName, model.givenName);
        assert.equal(got[ENT]?.department, model.department);
        const work = got.emails?.find((e) => e.type === 'work');
        assert.equal(work?.value, model.workEmail);
      }),
      { ...hostileParameters, numRuns: 150 },
    );
  });

  test('group members (property): adds and removes in every form, as a set', async () => {
    const directory = new MemoryDirectory();
    const users = new ScimUsers(directory.users);
    const groups = new ScimGroups(directory.groups);
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push((await users.create({ userName: `m${i}@example.com` }, BASE, call)).body.id as string);
    let n = 0;
    const memberStep = fc.record({ kind: fc.nat(5), who: fc.subarray(ids, { minLength: 1, maxLength: 3 }) });
    await fc.assert(
      fc.asyncProperty(fc.subarray(ids), fc.array(memberStep, { minLength: 1, maxLength: 6 }), async (initial, steps) => {
        const group = await groups.create({ displayName: `G${n++}`, members: initial.map((value) => ({ value })) }, BASE, call);
        const model = new Set(initial);
        const operations = steps.map(({ kind, who }) => {
          const values = who.map((value) => ({ value }));
          switch (kind) {
            case 0:
              who.forEach((w) => model.add(w));
              return { op: 'Add', path: 'members', value: values };
            case 1:
              who.forEach((w) => model.add(w));
              return { op: 'add', value: { members: values } };
            case 2:
              who.forEach((w) => model.delete(w));
              return { op: 'Remove', path: 'members', value: values };
            case 3:
              who.forEach((w) => model.delete(w));
              return { op: 'remove', path: `members[${who.map((w) => `value eq "${w}"`).join(' or ')}]` };
            case 4:
              model.clear();
              who.forEach((w) => model.add(w));
              return { op: 'replace', path: 'members', value: values };
            default:
              model.clear();
              return { op: 'remove', path: 'members' };
          }
        });
        await groups.patch(group.body.id as string, patchBody(...operations), undefined, BASE, call);
        const got = (await groups.get(group.body.id as string, BASE, {}, call)).body;
        const members = ((got.members as { value: string }[] | undefined) ?? []).map((m) => m.value).sort();
        assert.deepStrictEqual(members, [...model].sort());
        for (const delta of directory.deltas) assert.ok(delta.add.length + delta.remove.length <= ids.length);
      }),
      { ...hostileParameters, numRuns: 150 },
    );
  });
});
