import { inflateSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { createZlibEncoder } from "../../containers/taar/deflate.ts";
import { createRng } from "../../containers/taar/rng.ts";

const rng = createRng(11);
const randomText = (n: number, alphabet: string) =>
  Array.from({ length: n }, () => alphabet[rng.int(alphabet.length)]).join("");

describe("zlib encoder", () => {
  const z = createZlibEncoder();
  const roundTrip = (text: string) => {
    const out = Buffer.from(z.encode(text));
    expect(out[0]).toBe(0x78);
    expect((out[0] * 256 + out[1]) % 31).toBe(0);
    expect(inflateSync(out).toString("utf8")).toBe(text);
    return out.length;
  };

  it("inflates back to the input: edge cases, runs, long matches, multi-byte UTF-8", () => {
    for (const t of ["", "a", "ab", "abc", "aaaa", "a".repeat(258), "a".repeat(259), "a".repeat(100_000)])
      roundTrip(t);
    roundTrip("xyz".repeat(5000));
    roundTrip("Zürich — 東京 🦊 ".repeat(300));
    roundTrip(`${"0123456789".repeat(10)}${randomText(40_000, "ab")}${"0123456789".repeat(10)}`);
  });

  it("inflates back random text of every size, over one reused encoder", () => {
    for (let i = 0; i < 300; i++) {
      const n = rng.int(3000);
      roundTrip(randomText(n, i % 2 === 0 ? "abcdefgh" : 'ab{}":,0123456789 ñ'));
    }
    // Binary-looking input (every byte value) through latin1-range code points.
    roundTrip(Array.from({ length: 70_000 }, () => String.fromCharCode(rng.int(256))).join(""));
  });

  it("compresses JSON profile payloads", () => {
    const json = JSON.stringify({
      client_id: "f".repeat(64),
      active_addons: Array.from({ length: 6 }, (_, i) => ({
        addon_id: `addon-${i}@example.com`,
        blocklisted: false,
        type: "extension",
        is_system: false,
        signed_state: 2,
      })),
    });
    expect(roundTrip(json)).toBeLessThan(json.length / 2);
  });
});
