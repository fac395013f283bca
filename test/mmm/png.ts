import { crc32, inflateSync } from "node:zlib";
import { expect } from "vitest";

/** Decodes the PNGs encodePng writes (RGBA 8-bit, filter Up or None), checking signature and every CRC. */
export function decodePng(buf: Buffer): {
  width: number;
  height: number;
  pixel(x: number, y: number): number[];
} {
  expect([...buf.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  let off = 8;
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString("latin1", off + 4, off + 8);
    const body = buf.subarray(off + 8, off + 8 + len);
    expect(buf.readUInt32BE(off + 8 + len), `${type} CRC`).toBe(crc32(buf.subarray(off + 4, off + 8 + len)));
    if (type === "IHDR") {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      expect([body[8], body[9]]).toEqual([8, 6]);
    } else if (type === "IDAT") idat.push(body);
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * 4;
  const px = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    expect([0, 2]).toContain(f);
    for (let i = 0; i < stride; i++) {
      const v = raw[y * (stride + 1) + 1 + i];
      px[y * stride + i] = (v + (f === 2 && y > 0 ? px[(y - 1) * stride + i] : 0)) & 0xff;
    }
  }
  return { width, height, pixel: (x, y) => [...px.subarray((y * width + x) * 4, (y * width + x) * 4 + 4)] };
}
