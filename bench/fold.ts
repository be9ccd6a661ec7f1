// µs per foldKey() call for typical inputs: `npx tsc -p tsconfig.json && node dist/bench/fold.js`.
import { foldKey } from '../src/users/model.js';

const inputs: [string, string][] = [
  ['ASCII email', 'Ann.Lee+tag@Example.COM'],
  ['ASCII name', 'Ann Lee'],
  ['non-ASCII name', 'Zoë Straße-Müller'],
  ['Greek name', 'Όσος Παπαδόπουλος'],
  ['q (decomposed)', 'cafe\u0301 İzmir'],
];
const N = 1_000_000;
for (const [label, text] of inputs) {
  let sink = 0;
  for (let i = 0; i < 50_000; i++) sink += foldKey(text).length;
  const best = [];
  for (let round = 0; round < 5; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < N; i++) sink += foldKey(text).length;
    best.push(Number(process.hrtime.bigint() - start) / N / 1000);
  }
  console.log(
    `${label.padEnd(16)} ${JSON.stringify(text).padEnd(28)} ${Math.min(...best).toFixed(3)} µs/call (best of 5 × 1M)${sink < 0 ? '!' : ''}`,
  );
}
