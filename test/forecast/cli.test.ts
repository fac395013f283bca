import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import verb from "../../shared/cli/forecast.ts";
import { UsageError } from "../../shared/cli/verb.ts";
import { days } from "./helpers.ts";

function fakeIo(cwd: string) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: {
      stdout: { write: (s: string) => out.push(s) },
      stderr: { write: (s: string) => err.push(s) },
      env: {},
      cwd,
    },
    out,
    err,
  };
}

function readCsv(file: string): string[][] {
  return readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .map((l) => l.split(","));
}

const dir = mkdtempSync(join(tmpdir(), "tessera-forecast-cli-"));
const ds = days(120, "2021-03-01");
writeFileSync(
  join(dir, "in.csv"),
  `ds,y\n${ds.map((d, i) => `${d},${i % 9 === 4 ? "" : (50 + 0.2 * i + 5 * Math.sin(i)).toFixed(3)}`).join("\n")}\n`,
);

describe("tessera forecast fit", () => {
  it("writes ds,yhat,yhat_lower,yhat_upper for history and the N future days", async () => {
    const { io, out } = fakeIo(dir);
    const code = await verb.run(
      [
        "fit",
        "--input",
        "in.csv",
        "--periods",
        "30",
        "--output",
        "out.csv",
        "--seed",
        "4",
        "--samples",
        "300",
      ],
      io,
    );
    expect(code).toBe(0);
    const rows = readCsv(join(dir, "out.csv"));
    expect(rows[0]).toEqual(["ds", "yhat", "yhat_lower", "yhat_upper"]);
    expect(rows).toHaveLength(1 + 120 + 30);
    expect(rows[1][0]).toBe("2021-03-01");
    expect(rows[121][0]).toBe("2021-06-29");
    expect(rows[150][0]).toBe("2021-07-28");
    for (const r of rows.slice(1)) {
      const [yhat, lo, hi] = r.slice(1).map(Number);
      expect(lo).toBeLessThan(yhat);
      expect(hi).toBeGreaterThan(yhat);
    }
    expect(out.join("")).toMatch(/150 rows \(120 history \+ 30 future\), model prophet/);
  });

  it("is deterministic under --seed and honours --interval", async () => {
    const run = async (seed: string, interval: string, name: string) => {
      const { io } = fakeIo(dir);
      await verb.run(
        [
          "fit",
          "--input",
          "in.csv",
          "--periods",
          "20",
          "--output",
          name,
          "--seed",
          seed,
          "--interval",
          interval,
          "--samples",
          "200",
        ],
        io,
      );
      return readFileSync(join(dir, name), "utf8");
    };
    expect(await run("1", "0.8", "a.csv")).toBe(await run("1", "0.8", "b.csv"));
    const narrow = readCsv(join(dir, "a.csv"));
    await run("1", "0.5", "c.csv");
    const half = readCsv(join(dir, "c.csv"));
    const width = (rows: string[][]) => Number(rows[140][3]) - Number(rows[140][2]);
    expect(width(half)).toBeLessThan(width(narrow));
  });

  it("fits logistic growth with --cap/--floor, holidays from a file, and writes a fan chart", async () => {
    writeFileSync(
      join(dir, "hol.csv"),
      "holiday,ds,lower_window,upper_window\nsale,2021-04-15,-1,1\nsale,2021-07-15,-1,1\n",
    );
    const { io } = fakeIo(dir);
    const code = await verb.run(
      [
        "fit",
        "--input",
        "in.csv",
        "--periods",
        "10",
        "--growth",
        "logistic",
        "--cap",
        "200",
        "--floor",
        "0",
        "--holidays",
        "hol.csv",
        "--weekly",
        "false",
        "--yearly",
        "false",
        "--seasonality-mode",
        "multiplicative",
        "--svg",
        "f.svg",
        "--output",
        "log.csv",
      ],
      io,
    );
    expect(code).toBe(0);
    const rows = readCsv(join(dir, "log.csv")).slice(1);
    expect(rows.every((r) => Number(r[1]) < 200)).toBe(true);
    const svg = readFileSync(join(dir, "f.svg"), "utf8");
    expect(svg).toMatch(/class="band-80"/);
    expect(svg).toMatch(/class="band-50"/);
  });

  it("answers usage errors with UsageError and bad input with exit 1 and the file and fix", async () => {
    const { io, err } = fakeIo(dir);
    await expect(verb.run(["fit", "--input", "in.csv", "--output", "x.csv"], io)).rejects.toThrow(UsageError);
    await expect(
      verb.run(["fit", "--input", "in.csv", "--periods", "-1", "--output", "x.csv"], io),
    ).rejects.toThrow(/--periods/);
    await expect(
      verb.run(["fit", "--input", "in.csv", "--periods", "1", "--growth", "cubic", "--output", "x.csv"], io),
    ).rejects.toThrow(/--growth/);
    await expect(verb.run(["predict"], io)).rejects.toThrow(/subcommand/);
    await expect(
      verb.run(
        ["fit", "--input", "in.csv", "--periods", "1", "--optimizer", "fast", "--output", "x.csv"],
        io,
      ),
    ).rejects.toThrow(/--optimizer must be auto, stan or exact/);
    expect(await verb.run(["fit", "--input", "missing.csv", "--periods", "1", "--output", "x.csv"], io)).toBe(
      1,
    );
    expect(err.join("")).toMatch(/cannot read .*missing\.csv/);
    writeFileSync(join(dir, "bad.csv"), "ds,y\n2021-01-01,3\n2021-01-02,abc\n");
    expect(await verb.run(["fit", "--input", "bad.csv", "--periods", "1", "--output", "x.csv"], io)).toBe(1);
    expect(err.join("")).toMatch(/bad\.csv: line 3: y is not a number/);
    expect(
      await verb.run(
        ["fit", "--input", "in.csv", "--periods", "1", "--growth", "logistic", "--output", "x.csv"],
        io,
      ),
    ).toBe(1);
    expect(err.join("")).toMatch(/cap/);
  });

  it("takes --optimizer exact or stan and forecasts the same dates with either", async () => {
    const rows: Record<string, string[][]> = {};
    for (const opt of ["exact", "stan"]) {
      const { io } = fakeIo(dir);
      const args = ["fit", "--input", "in.csv", "--periods", "10", "--samples", "0", "--optimizer", opt];
      expect(await verb.run([...args, "--output", `opt-${opt}.csv`], io)).toBe(0);
      rows[opt] = readCsv(join(dir, `opt-${opt}.csv`));
    }
    expect(rows.exact.map((r) => r[0])).toEqual(rows.stan.map((r) => r[0]));
    expect(rows.exact).toHaveLength(1 + 120 + 10);
    // Both fit the same posterior: the forecasts are close, not necessarily equal.
    for (let i = 1; i < rows.exact.length; i++)
      expect(Math.abs(Number(rows.exact[i][1]) - Number(rows.stan[i][1]))).toBeLessThan(2);
  });

  it("runs as a spawned process", () => {
    const script = join(import.meta.dirname, "fixtures", "run-forecast-verb.ts");
    const r = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        script,
        "fit",
        "--input",
        join(dir, "in.csv"),
        "--periods",
        "7",
        "--output",
        join(dir, "spawned.csv"),
      ],
      {
        encoding: "utf8",
        cwd: join(import.meta.dirname, "..", ".."),
      },
    );
    expect(r.status).toBe(0);
    expect(readCsv(join(dir, "spawned.csv"))).toHaveLength(1 + 127);
    const bad = spawnSync(process.execPath, ["--import", "tsx", script, "fit", "--periods", "7"], {
      encoding: "utf8",
      cwd: join(import.meta.dirname, "..", ".."),
    });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--input is required/);
  });
});
