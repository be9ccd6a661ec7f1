// Markup checks the console's template tests share: hostile texts, and the tag-and-attribute
// skeleton that escaping must leave unchanged, and a viewer whose token is hostile too.
import assert from 'node:assert/strict';
import type { Viewer } from '../../src/console/views/layout.js';

/** Texts that would open a tag or an attribute if a template put them in unescaped. */
export const HOSTILE = [
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  "' onmouseover='alert(1)",
  '</textarea><script>x</script>',
  '&lt;already&gt; & <b>bold</b>',
];

/**
 * The markup's skeleton as a browser's tokenizer sees it: each tag and each attribute name, in
 * order. Text that is escaped right changes only text and attribute values, never this.
 */
export function skeleton(html: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < html.length) {
    const lt = html.indexOf('<', i);
    if (lt < 0) break;
    const tag = /^<\/?(?:[a-zA-Z][a-zA-Z0-9-]*|!doctype)/.exec(html.slice(lt, lt + 40));
    if (tag === null) {
      i = lt + 1;
      continue;
    }
    out.push(tag[0].toLowerCase());
    let j = lt + tag[0].length;
    for (;;) {
      while (/\s/.test(html[j] ?? '')) j++;
      if (j >= html.length || html[j] === '>' || html.startsWith('/>', j)) break;
      const name = /^[^\s=>/]+/.exec(html.slice(j))?.[0] ?? html[j]!;
      out.push(`@${name}`);
      j += name.length;
      if (html[j] === '=') {
        j++;
        if (html[j] === '"' || html[j] === "'") j = html.indexOf(html[j]!, j + 1) + 1;
        else while (j < html.length && !/[\s>]/.test(html[j]!)) j++;
      }
    }
    i = j + 1;
  }
  return out;
}

/** A viewer every screen is open to, with a CSRF token and actor that must be escaped too. */
export const viewer: Viewer = {
  canReadUsers: true,
  canManageKeys: true,
  canReadEvents: true,
  canManageWebhooks: true,
  canImport: true,
  canReadGroups: true,
  csrfToken: 'tok"en<',
  actor: 'key:<evil>',
};

/** `text` rendered everywhere leaves the same skeleton as a harmless word does: no tag opened, no attribute added. */
export function assertInert(render: (text: string) => [where: string, html: string][], text: string): void {
  const expected = render('PLACEHOLDER');
  render(text).forEach(([where, html], index) => {
    assert.deepEqual(skeleton(html), skeleton(expected[index]![1]), `${where}: ${JSON.stringify(text)} changed the markup`);
  });
}
