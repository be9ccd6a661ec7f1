import { readFile, writeFile } from 'node:fs/promises';

/**
 * bench/RESULTS.md holds one section per benchmark (HTTP, webhooks, import), each between
 * `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`, plus hand-written notes outside them. A
 * benchmark rewrites only its own section, so running one never erases another's figures.
 */
export async function writeResultsSection(file: string, name: string, markdown: string): Promise<void> {
  const begin = `<!-- bench:${name} -->`;
  const end = `<!-- /bench:${name} -->`;
  const section = `${begin}\n${markdown.trim()}\n${end}`;
  let current = '';
  try {
    current = await readFile(file, 'utf8');
  } catch {
    // first run: the file is created below
  }
  const from = current.indexOf(begin);
  const to = current.indexOf(end);
  let next: string;
  if (from >= 0 && to > from) next = current.slice(0, from) + section + current.slice(to + end.length);
  else if (current.trim() === '')
    next = `# Benchmark results\n\nEach section is written by its benchmark; compare figures only within one section's run.\n\n${section}\n`;
  else next = `${current.trimEnd()}\n\n${section}\n`;
  await writeFile(file, next);
}
