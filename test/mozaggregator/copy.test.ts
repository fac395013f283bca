import { describe, expect, it } from "vitest";
import {
  CopyFormatError,
  isNull,
  LineSplitter,
  splitFields,
  unescapeField,
} from "../../containers/mozaggregator/copy.ts";

const decode = (s: string) => {
  const b = Buffer.from(`xx${s}yy`, "latin1");
  return unescapeField(b, 2, b.length - 2).toString("latin1");
};

describe("COPY text escapes", () => {
  it.each([
    ["plain", "plain"],
    ["a\\tb", "a\tb"],
    ["a\\nb", "a\nb"],
    ["a\\rb", "a\rb"],
    ["\\\\", "\\"],
    ['{"k": "say \\\\"hi\\\\""}', '{"k": "say \\"hi\\""}'],
    ["\\b\\f\\v", "\b\f\v"],
    ["\\101\\60\\0", "A0\0"],
    ["\\1012", "A2"],
    ["\\x41\\x4g", "A\x04g"],
    ["\\xzz", "xzz"],
    ["\\q", "q"],
    ["\\N", "N"],
  ])("%s -> %j", (input, expected) => {
    expect(decode(input)).toBe(expected);
  });

  it("rejects a trailing lone backslash", () => {
    expect(() => decode("abc\\")).toThrow(/lone backslash/);
  });

  it("recognizes \\N only as a whole field", () => {
    const b = Buffer.from("\\N\t\\Nx");
    expect(isNull(b, 0, 2)).toBe(true);
    expect(isNull(b, 3, 6)).toBe(false);
  });

  it("splits fields on raw tabs", () => {
    const b = Buffer.from("a\tbc\t\td");
    const f = splitFields(b, 0, b.length);
    const parts = [];
    for (let i = 0; i < f.length; i += 2) parts.push(b.toString("latin1", f[i], f[i + 1]));
    expect(parts).toEqual(["a", "bc", "", "d"]);
  });
});

describe("LineSplitter", () => {
  const text = "l1\tx\nline two\t{1,2}\n\nlast\t3\n\\.\n\n";
  const collect = (chunks: Buffer[]) => {
    const lines: [number, string][] = [];
    const s = new LineSplitter("f.dat.gz", (buf, a, b, n) => lines.push([n, buf.toString("latin1", a, b)]));
    for (const c of chunks) s.push(c);
    s.end();
    return { lines, s };
  };

  it("gives the same lines whatever the chunking, up to the end marker", () => {
    const whole = collect([Buffer.from(text)]).lines;
    expect(whole).toEqual([
      [1, "l1\tx"],
      [2, "line two\t{1,2}"],
      [3, ""],
      [4, "last\t3"],
    ]);
    const bytes = Buffer.from(text);
    for (const size of [1, 2, 3, 7]) {
      const chunks = [];
      for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
      expect(collect(chunks).lines).toEqual(whole);
    }
  });

  it("fails without the end marker (a truncated file) naming file and line", () => {
    expect(() => collect([Buffer.from("a\t1\nb\t2\n")])).toThrow(CopyFormatError);
    expect(() => collect([Buffer.from("a\t1\nb\t2\n")])).toThrow(
      /^f\.dat\.gz:2: data ends without the end-of-data marker/,
    );
  });

  it("fails on data after the end marker", () => {
    expect(() => collect([Buffer.from("a\t1\n\\.\nmore\n")])).toThrow(
      /^f\.dat\.gz:3: data after the end-of-data marker/,
    );
  });
});
