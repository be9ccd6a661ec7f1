/**
 * A blocked Bloom filter over strings: each key sets `hashes` bits inside one 512-bit block,
 * so a lookup touches one cache line, and `testAndAdd` checks and inserts in that one pass.
 *
 * Written here rather than taken from npm: the common packages probe `hashes` random cache
 * lines and test and add in two passes (two hashes, up to 14 cache misses for a new key).
 * Measured on 2M emails in a 16 MiB filter, 7 hashes, median of 5: 208 ns per new key here
 * against 459 ns for bloomfilter 1.1.0's test() + add(). With dedupe.ts consulting its Map
 * only on a filter hit, the dedupe stage went from ~1.2 µs to ~0.5 µs per row. A blocked
 * filter pays with more false positives for its size (uneven block loads): with 10M keys in
 * 16 MiB and 7 hashes, measured 0.09% over the whole fill and 0.3% for the last million keys,
 * against ~0.2% at the end for a classic filter. It never has false negatives.
 */
export class BlockedBloomFilter {
  readonly #words: Uint32Array;
  readonly #blockMask: number;
  readonly #hashes: number;

  /** `bits` is rounded up to a power of two (at least one 512-bit block). */
  constructor(bits: number, hashes: number) {
    if (!(hashes >= 1 && hashes <= 16)) throw new RangeError('hashes must be 1–16');
    const blocks = 2 ** Math.max(0, Math.ceil(Math.log2(bits / 512)));
    this.#words = new Uint32Array(blocks * 16);
    this.#blockMask = blocks - 1;
    this.#hashes = hashes;
  }

  /** Adds `key`; true when every one of its bits was already set (it may have been added before). */
  testAndAdd(key: string): boolean {
    // Two FNV-1a style accumulators with different primes, finished with the MurmurHash3
    // mixer: one picks the block, the other the bits inside it.
    let h1 = 0x811c9dc5;
    let h2 = 0x9747b28c;
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    }
    const base = (mix(h1) & this.#blockMask) << 4;
    const bits = mix(h2);
    const first = bits & 511;
    const step = (bits >>> 9) | 1;
    const words = this.#words;
    let present = true;
    for (let i = 0; i < this.#hashes; i++) {
      const bit = (first + i * step) & 511;
      const word = base + (bit >>> 5);
      const mask = 1 << (bit & 31);
      if ((words[word]! & mask) === 0) {
        present = false;
        words[word] = words[word]! | mask;
      }
    }
    return present;
  }
}

function mix(hash: number): number {
  let h = hash ^ (hash >>> 16);
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
