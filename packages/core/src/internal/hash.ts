/**
 * 32-bit string hash: FNV-1a over UTF-16 code units, finished with MurmurHash3's fmix32 so that
 * nearby inputs ("user-1", "user-2") land far apart. Not cryptographic: a client that controls
 * the key can choose which instance it lands on, never which host is contacted.
 */
export function hash32(text: string, seed = 0): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Maps a 32-bit hash onto [0, size) by multiply-shift (Lemire, "A fast alternative to the modulo
 * reduction", 2016): floor(hash × size / 2^32). It keeps the hash's uniformity like `hash % size`
 * but costs a multiply, where `%` on a hash above 2^31 is a floating-point remainder (x87 `fprem`
 * in V8, tens of cycles). Exact for any size up to 2^31: the product is below size × 2^32, and
 * rounding it to a double can never reach that bound, so the result is always below size.
 */
export function reduce(hash: number, size: number): number {
  return (hash * size * TWO_TO_MINUS_32) | 0;
}

const TWO_TO_MINUS_32 = 2 ** -32;

/** The smallest prime >= n (n small enough for trial division: table sizes up to a few million). */
export function nextPrime(n: number): number {
  let candidate = Math.max(2, Math.ceil(n));
  for (;;) {
    if (isPrime(candidate)) return candidate;
    candidate += 1;
  }
}

function isPrime(n: number): boolean {
  if (n < 4) return n >= 2;
  if (n % 2 === 0) return false;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}
