/**
 * Hash grouping on typed arrays: every row gets a dense group id in order of first appearance.
 * Keys are compared exactly (doubles by value, with NaN equal to NaN and -0 equal to 0).
 */

export interface Grouping {
  /** Group id of each input row (-1 where the row was left out). */
  groupOf: Int32Array;
  groups: number;
  /** The first input row of each group. */
  firstRow: Int32Array;
}

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);

function hashDouble(v: number, h: number): number {
  if (v === 0) v = 0;
  if (Number.isNaN(v)) return Math.imul(h ^ 0x7ff80000, 0x9e3779b1);
  f64[0] = v;
  h = Math.imul(h ^ u32[0], 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ u32[1], 0xc2b2ae35);
  return h ^ (h >>> 16);
}

function sameDouble(a: number, b: number): boolean {
  return a === b || (Number.isNaN(a) && Number.isNaN(b));
}

/**
 * The group of `key` in a direct table (-1: none yet), numbered in order of first appearance: a key seen for the
 * first time gets the next number and its row goes to `first`.
 */
export function tableGroup(table: Int32Array, key: number, first: number[], row: number): number {
  let g = table[key];
  if (g < 0) {
    g = first.length;
    table[key] = g;
    first.push(row);
  }
  return g;
}

function capacityFor(n: number): number {
  let c = 16;
  while (c < n * 2) c *= 2;
  return c;
}

/**
 * Group by one numeric key per row. Integer keys in [0, maxKey] with a small enough range use a direct
 * table; anything else a hash table. `keys[i] < 0` (or NaN with `skipNegative`) leaves row i out.
 */
export function groupByKey(
  keys: Float64Array,
  maxKey = Number.POSITIVE_INFINITY,
  skipNegative = true,
): Grouping {
  const n = keys.length;
  const groupOf = new Int32Array(n);
  const first: number[] = [];
  if (Number.isFinite(maxKey) && maxKey + 1 <= Math.max(1 << 22, 4 * n)) {
    const table = new Int32Array(maxKey + 1).fill(-1);
    for (let i = 0; i < n; i++) {
      const k = keys[i];
      if (skipNegative && !(k >= 0)) {
        groupOf[i] = -1;
        continue;
      }
      groupOf[i] = tableGroup(table, k, first, i);
    }
    return { groupOf, groups: first.length, firstRow: Int32Array.from(first) };
  }
  const cap = capacityFor(Math.min(n, 1 << 26));
  const mask = cap - 1;
  const slots = new Int32Array(cap).fill(-1);
  const groupKey: number[] = [];
  for (let i = 0; i < n; i++) {
    const k = keys[i];
    if (skipNegative && !(k >= 0)) {
      groupOf[i] = -1;
      continue;
    }
    let s = hashDouble(k, 0x1234567) & mask;
    for (;;) {
      const g = slots[s];
      if (g < 0) {
        const id = first.length;
        slots[s] = id;
        first.push(i);
        groupKey.push(k);
        groupOf[i] = id;
        break;
      }
      if (sameDouble(groupKey[g], k)) {
        groupOf[i] = g;
        break;
      }
      s = (s + 1) & mask;
    }
  }
  return { groupOf, groups: first.length, firstRow: Int32Array.from(first) };
}

/**
 * Group rows by several integer and double columns at once. Hashes are built column by column (tight loops
 * over one typed array each); rows then probe a table and are compared column by column on a hash match.
 */
export function groupByColumns(
  ints: readonly Int32Array[],
  doubles: readonly Float64Array[],
  n: number,
): Grouping {
  // Integer codes whose combined range fits a double's 53 bits pack exactly into one number: one column to
  // hash and compare instead of many.
  if (ints.length > 1) {
    let range = 1;
    const maxes = ints.map((col) => {
      let max = -1;
      for (let i = 0; i < n; i++) if (col[i] > max) max = col[i];
      return max + 2;
    });
    for (const m of maxes) range *= m;
    if (range <= 2 ** 53) {
      const packed = new Float64Array(n);
      let scale = 1;
      ints.forEach((col, c) => {
        for (let i = 0; i < n; i++) packed[i] += (col[i] + 1) * scale;
        scale *= maxes[c];
      });
      return groupByColumns([], [packed, ...doubles], n);
    }
  }
  const hash = new Int32Array(n).fill(0x2545f491);
  for (const col of ints) {
    for (let i = 0; i < n; i++) {
      const h = Math.imul(hash[i] ^ col[i], 0x9e3779b1);
      hash[i] = h ^ (h >>> 15);
    }
  }
  for (const col of doubles) {
    const bits = new Int32Array(col.buffer, col.byteOffset, col.length * 2);
    for (let i = 0; i < n; i++) {
      const v = col[i];
      let lo = bits[2 * i];
      let hi = bits[2 * i + 1];
      if (v === 0) lo = hi = 0;
      else if (Number.isNaN(v)) {
        lo = 0;
        hi = 0x7ff80000;
      }
      let h = Math.imul(hash[i] ^ lo, 0x85ebca6b);
      h = Math.imul(h ^ (h >>> 13) ^ hi, 0xc2b2ae35);
      hash[i] = h ^ (h >>> 16);
    }
  }
  const groupOf = new Int32Array(n);
  const firstRow = new Int32Array(n);
  const groupHash = new Int32Array(n);
  let groups = 0;
  const cap = capacityFor(Math.min(n, 1 << 26));
  const mask = cap - 1;
  const slots = new Int32Array(cap).fill(-1);
  const ni = ints.length;
  const nd = doubles.length;
  for (let i = 0; i < n; i++) {
    const h = hash[i];
    let s = (h ^ (h >>> 16)) & mask;
    for (;;) {
      const g = slots[s];
      if (g < 0) {
        slots[s] = groups;
        firstRow[groups] = i;
        groupHash[groups] = h;
        groupOf[i] = groups++;
        break;
      }
      if (groupHash[g] === h) {
        const r = firstRow[g];
        let same = true;
        for (let c = 0; c < ni && same; c++) same = ints[c][r] === ints[c][i];
        for (let c = 0; c < nd && same; c++) same = sameDouble(doubles[c][r], doubles[c][i]);
        if (same) {
          groupOf[i] = g;
          break;
        }
      }
      s = (s + 1) & mask;
    }
  }
  return { groupOf, groups, firstRow: firstRow.slice(0, groups) };
}

/** Stable counting sort of `rows` by `groupOf[row]` in [0, groups): row lists per group, back to back. */
export function rowsByGroup(
  groupOf: Int32Array,
  groups: number,
  shared = false,
): { start: Int32Array; rows: Int32Array } {
  const ints = (n: number) => new Int32Array(shared ? new SharedArrayBuffer(n * 4) : new ArrayBuffer(n * 4));
  const start = ints(groups + 1);
  for (let i = 0; i < groupOf.length; i++) if (groupOf[i] >= 0) start[groupOf[i] + 1]++;
  for (let g = 0; g < groups; g++) start[g + 1] += start[g];
  const fill = start.slice(0, groups);
  const rows = ints(start[groups]);
  for (let i = 0; i < groupOf.length; i++) {
    const g = groupOf[i];
    if (g >= 0) rows[fill[g]++] = i;
  }
  return { start, rows };
}
