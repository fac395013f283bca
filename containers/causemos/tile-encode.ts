/**
 * The direct encoder of Causemos tiles (`tiles.Tile` of tile-proto.ts): the bytes protobufjs's `Tile.encode`
 * emits for the pipeline's subset (coord.{x,y,z}, bins.totalBins, stats[bin].{s_sum_t_sum, s_sum_t_mean,
 * weight}), without protobufjs, so the job does not load it (tile-proto.ts keeps the reference encoder and the
 * decoder; the tests hold the two byte for byte equal).
 */

function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function statsSize(a: number, b: number, c: number): number {
  return (isZero(a) ? 0 : 9) + (isZero(b) ? 0 : 9) + (isZero(c) ? 0 : 9);
}

/** proto3 leaves out a double equal to +0 (protobufjs keeps -0, whose bits differ). */
function isZero(v: number): boolean {
  return v === 0 && 1 / v > 0;
}

/**
 * Encode a tile from parallel arrays: `bins[k]` ascending, with its three stats. The bytes equal
 * `encodeTileReference` for the same message: proto3 leaves out scalar fields equal to zero, map keys stay.
 */
export function encodeTile(
  coord: { x: number; y: number; z: number },
  totalBins: number,
  bins: ArrayLike<number>,
  sumTSum: ArrayLike<number>,
  sumTMean: ArrayLike<number>,
  weight: ArrayLike<number>,
  count: number = bins.length,
): Uint8Array {
  const field = (v: number) => (v !== 0 ? 1 + varintSize(v) : 0);
  const coordLen = field(coord.x) + field(coord.y) + field(coord.z);
  let binsLen = 0;
  for (let k = 0; k < count; k++) {
    const stats = statsSize(sumTSum[k], sumTMean[k], weight[k]);
    const entry = 1 + varintSize(bins[k]) + 1 + varintSize(stats) + stats;
    binsLen += 1 + varintSize(entry) + entry;
  }
  binsLen += field(totalBins);
  const total = 1 + varintSize(coordLen) + coordLen + 1 + varintSize(binsLen) + binsLen;
  const buf = Buffer.allocUnsafe(total);
  const view = new DataView(buf.buffer, buf.byteOffset, total);
  let p = 0;
  buf[p++] = 0x0a; // Tile.coord
  p = putVarint(buf, p, coordLen);
  p = putUint(buf, p, 0x08, coord.x);
  p = putUint(buf, p, 0x10, coord.y);
  p = putUint(buf, p, 0x18, coord.z);
  buf[p++] = 0x12; // Tile.bins
  p = putVarint(buf, p, binsLen);
  for (let k = 0; k < count; k++) {
    const bin = bins[k];
    const a = sumTSum[k];
    const b = sumTMean[k];
    const c = weight[k];
    const stats = statsSize(a, b, c);
    buf[p++] = 0x0a; // TileBins.stats map entry
    p = putVarint(buf, p, 1 + varintSize(bin) + 1 + varintSize(stats) + stats);
    buf[p++] = 0x08; // key (map keys are always written)
    p = putVarint(buf, p, bin);
    buf[p++] = 0x12; // value: TileStats
    p = putVarint(buf, p, stats);
    if (!isZero(a)) {
      buf[p++] = 0x21; // s_sum_t_sum = 4
      view.setFloat64(p, a, true);
      p += 8;
    }
    if (!isZero(b)) {
      buf[p++] = 0x29; // s_sum_t_mean = 5
      view.setFloat64(p, b, true);
      p += 8;
    }
    if (!isZero(c)) {
      buf[p++] = 0x31; // weight = 6
      view.setFloat64(p, c, true);
      p += 8;
    }
  }
  p = putUint(buf, p, 0x10, totalBins); // TileBins.totalBins
  if (p !== total) throw new Error(`tile encoder wrote ${p} bytes, sized ${total}`);
  return buf;
}

/** Writes varint `v` at `p`; returns the position after it. */
function putVarint(buf: Uint8Array, p: number, v: number): number {
  while (v >= 0x80) {
    buf[p++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[p++] = v;
  return p;
}

/** A uint field (left out when 0, as proto3 does); returns the position after it. */
function putUint(buf: Uint8Array, p: number, tag: number, v: number): number {
  if (v === 0) return p;
  buf[p++] = tag;
  return putVarint(buf, p, v);
}
