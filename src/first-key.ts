/**
 * The notice `serve` prints when it creates a database's first admin API key. It goes to the
 * operator's terminal (stderr), never into the log on stdout, where log shippers would copy it;
 * framed by rules and blank lines so it stands apart from the log lines around it, the key
 * alone on its line (no colour codes there) so a person can copy it and a script can grep it
 * (`^rk_\S+$`). It is written in one write so nothing interleaves with it.
 */
export function firstKeyNotice(key: string, database: string, options: { readonly colour: boolean }): string {
  const rule = '─'.repeat(78);
  const strong = (text: string) => (options.colour ? `\u001b[1m${text}\u001b[0m` : text);
  return [
    '',
    rule,
    strong(`Roster created the first admin API key of ${database}.`),
    'It is shown only this once: store it in your secret manager now.',
    '',
    key,
    '',
    'Why now: every new database gets its own first key. Roster creates one when it starts on',
    'a database that has never had an API key (a new SQLite file, a new PostgreSQL database),',
    'and never again for that database, even after a restart or once this key is revoked.',
    '',
    'Lost it? On a host that can reach this database, create another admin key:',
    '  roster keys create --name admin --scope admin      (npx roster … in a checkout)',
    'then revoke the lost one: roster keys list, roster keys revoke ID.',
    'Give applications narrower keys: roster keys create --name app --scope users:read',
    rule,
    '',
    '',
  ].join('\n');
}
