import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { NonRetriableError } from "../../shared/core/errors.ts";
import { type PgConnection, pgDumpPath } from "./dump.ts";
import { AGGREGATE_TYPES, type AggregateType } from "./tables.ts";

/**
 * A seeded generator of mozaggregator's PostgreSQL source: one table per (aggregate type, channel, version,
 * day) named `<type>_<channel>_<version>_<YYYYMMDD>`, columns `dimensions jsonb` and `histogram bigint[]`
 * (bucket counts, then sum and count), and the GIN index `<table>_dimensions_idx` on `dimensions
 * jsonb_path_ops`, as python_mozaggregator's db.py created them. The same seed gives the same rows.
 */

export interface GenerateOptions {
  /** Days as YYYY-MM-DD; each gets `tablesPerDay` tables of every type in `types`. */
  days: string[];
  types?: readonly AggregateType[];
  seed?: number;
  tablesPerDay?: number;
  rowsPerTable?: number;
  /** psql's path; default next to pg_dump. */
  psql?: string;
}

export interface GeneratedTable {
  name: string;
  type: AggregateType;
  channel: string;
  version: string;
  ds: string;
  rows: number;
}

const CHANNELS = ["nightly", "aurora", "beta", "release"] as const;
const VERSION_BASE: Record<(typeof CHANNELS)[number], number> = {
  nightly: 72,
  aurora: 71,
  beta: 71,
  release: 70,
};

const OS_MIX: [os: string, versions: string[], weight: number][] = [
  ["Windows_NT", ["6.1", "6.3", "10.0"], 70],
  ["Darwin", ["17.7.0", "18.7.0", "19.0.0"], 12],
  ["Linux", ["4.15", "5.3", "5.4"], 10],
  ["Android", ["23", "28", "29"], 8],
];
const ARCHES: [string, number][] = [
  ["x86", 40],
  ["x86-64", 55],
  ["aarch64", 5],
];
const APPLICATIONS: [string, number][] = [
  ["Firefox", 90],
  ["Fennec", 10],
];

type Kind = "flag" | "boolean" | "enumerated" | "exponential" | "linear" | "count" | "scalar";
interface Metric {
  name: string;
  kind: Kind;
  buckets: number;
  labels?: string[];
}

const METRICS: Metric[] = [
  { name: "A11Y_INSTANTIATED_FLAG", kind: "flag", buckets: 3 },
  { name: "A11Y_CONSUMERS", kind: "enumerated", buckets: 12 },
  { name: "A11Y_ISIMPLEDOM_USAGE_FLAG", kind: "flag", buckets: 3 },
  { name: "GC_MS", kind: "exponential", buckets: 50 },
  { name: "GC_MAX_PAUSE_MS_2", kind: "exponential", buckets: 50 },
  { name: "CYCLE_COLLECTOR", kind: "exponential", buckets: 50 },
  { name: "CYCLE_COLLECTOR_MAX_PAUSE", kind: "exponential", buckets: 50 },
  { name: "MEMORY_RESIDENT_FAST", kind: "exponential", buckets: 100 },
  { name: "MEMORY_TOTAL", kind: "exponential", buckets: 100 },
  { name: "PAGE_LOAD_MS", kind: "exponential", buckets: 100 },
  { name: "TIME_TO_FIRST_PAINT_MS", kind: "exponential", buckets: 100 },
  { name: "FX_TAB_SWITCH_TOTAL_E10S_MS", kind: "exponential", buckets: 20 },
  { name: "HTTP_PAGELOAD_IS_SSL", kind: "boolean", buckets: 3 },
  { name: "SSL_HANDSHAKE_VERSION", kind: "enumerated", buckets: 16 },
  { name: "CONTENT_PROCESS_LAUNCH_MS", kind: "exponential", buckets: 50 },
  { name: "DEVTOOLS_TOOLBOX_OPENED_COUNT", kind: "count", buckets: 3 },
  { name: "PLUGINS_NOTIFICATION_SHOWN", kind: "boolean", buckets: 3 },
  {
    name: "SEARCH_COUNTS",
    kind: "count",
    buckets: 3,
    labels: ["google.urlbar", "bing.searchbar", "ddg.contextmenu"],
  },
  {
    name: "IPC_MESSAGE_SIZE2",
    kind: "exponential",
    buckets: 50,
    labels: ["PContent::Msg_AsyncMessage", "PBrowser::Msg_Show"],
  },
  { name: "JS_TELEMETRY_ADDON_EXCEPTIONS", kind: "count", buckets: 3, labels: ["uBlock0@raymondhill.net"] },
  { name: "SCALARS_BROWSER.ENGAGEMENT.MAX_CONCURRENT_TAB_COUNT", kind: "scalar", buckets: 50 },
  { name: "SIMPLE_MEASURES_UPTIME", kind: "scalar", buckets: 50 },
  { name: "SIMPLE_MEASURES_FIRSTPAINT", kind: "scalar", buckets: 50 },
  { name: "SIMPLE_MEASURES_SESSIONRESTORED", kind: "scalar", buckets: 50 },
  { name: "SIMPLE_MEASURES_ACTIVETICKS", kind: "scalar", buckets: 50 },
  { name: "[[COUNT]]_SUBMISSION", kind: "count", buckets: 3 },
  { name: "[[COUNT]]_GC_MS", kind: "count", buckets: 3 },
  { name: "[[COUNT]]_PAGE_LOAD_MS", kind: "count", buckets: 3 },
  { name: "LINEAR_TAB_COUNT", kind: "linear", buckets: 30 },
];

/** mulberry32: a small, fast, seeded PRNG (deterministic across platforms). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hashString(s: string, seed: number): number {
  let h = seed ^ 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

function weighted<T>(rand: () => number, items: [T, ...unknown[]][], weightAt: number): T {
  let total = 0;
  for (const it of items) total += it[weightAt] as number;
  let r = rand() * total;
  for (const it of items) {
    r -= it[weightAt] as number;
    if (r < 0) return it[0];
  }
  return items[items.length - 1][0];
}

/** The tables a day gets: a deterministic pick of (channel, version) pairs. */
export function planTables(
  ds: string,
  type: AggregateType,
  tablesPerDay: number,
  seed: number,
): GeneratedTable[] {
  const rand = prng(hashString(`${type}/${ds}`, seed));
  const pairs: [string, string][] = [];
  const seen = new Set<string>();
  for (let guard = 0; pairs.length < tablesPerDay && guard < tablesPerDay * 50; guard++) {
    const channel = CHANNELS[Math.floor(rand() * CHANNELS.length)];
    // Mostly current versions, sometimes an old one (version 1 and 0 show up in the real catalogue).
    const version =
      rand() < 0.1 ? String(Math.floor(rand() * 3)) : String(VERSION_BASE[channel] - Math.floor(rand() * 6));
    const key = `${channel}_${version}`;
    if (seen.has(key)) continue;
    seen.add(key);
    pairs.push([channel, version]);
  }
  if (pairs.length < tablesPerDay) {
    throw new NonRetriableError(
      `tablesPerDay ${tablesPerDay} is more than the ${pairs.length} channel/version pairs`,
      {
        field: "tablesPerDay",
        fix: "use at most 40 tables per day and type",
      },
    );
  }
  const nodash = ds.replaceAll("-", "");
  return pairs.map(([channel, version]) => ({
    name: `${type}_${channel}_${version}_${nodash}`,
    type,
    channel,
    version,
    ds,
    rows: 0,
  }));
}

/** One row as its two COPY-text-free values: the dimensions object and the histogram array. */
export function makeRow(rand: () => number): { dimensions: Record<string, string>; histogram: bigint[] } {
  const metric = METRICS[Math.floor(rand() * METRICS.length)];
  const osPick =
    OS_MIX[
      Math.floor(
        weightedIndex(
          rand,
          OS_MIX.map((o) => o[2]),
        ),
      )
    ];
  const dimensions: Record<string, string> = {
    os: osPick[0],
    child: rand() < 0.35 ? "true" : "false",
    label: metric.labels ? metric.labels[Math.floor(rand() * metric.labels.length)] : "",
    metric: metric.name,
    osVersion: osPick[1][Math.floor(rand() * osPick[1].length)],
    application: weighted(rand, APPLICATIONS, 1),
    architecture: weighted(rand, ARCHES, 1),
  };
  const extra = rand();
  if (extra < 0.15) dimensions.e10sEnabled = rand() < 0.8 ? "true" : "false";
  else if (extra < 0.17) dimensions.label = `${dimensions.label}"quoted\\label\ttab`;
  const counts: bigint[] = new Array(metric.buckets);
  let count = 0n;
  let sum = 0n;
  const peak = Math.floor(rand() * metric.buckets);
  const spread = 1 + rand() * metric.buckets * 0.2;
  const scale = rand() < 0.05 ? 100000 : 40;
  for (let b = 0; b < metric.buckets; b++) {
    const d = (b - peak) / spread;
    const n = Math.floor(Math.exp(-d * d) * scale * rand());
    counts[b] = BigInt(n);
    count += BigInt(n);
    sum += BigInt(n) * BigInt(b * b + 1);
  }
  if (rand() < 0.002) sum = 9_007_199_254_740_993n + BigInt(Math.floor(rand() * 1000)); // beyond 2^53
  counts.push(sum, count);
  return { dimensions, histogram: counts };
}

function weightedIndex(rand: () => number, weights: number[]): number {
  const total = weights.reduce((a, b) => a + b, 0);
  let r = rand() * total;
  for (let i = 0; i < weights.length; i++) {
    r -= weights[i];
    if (r < 0) return i;
  }
  return weights.length - 1;
}

/** COPY text escaping of one value: backslash, tab, newline and carriage return. */
function copyEscape(s: string): string {
  return /[\\\t\n\r]/.test(s)
    ? s.replaceAll("\\", "\\\\").replaceAll("\t", "\\t").replaceAll("\n", "\\n").replaceAll("\r", "\\r")
    : s;
}

/** One table's rows as COPY text lines, `dimensions\thistogram\n`. */
export function* copyLines(table: string, rows: number, seed: number): Generator<string> {
  const rand = prng(hashString(table, seed));
  for (let i = 0; i < rows; i++) {
    const row = makeRow(rand);
    yield `${copyEscape(JSON.stringify(row.dimensions))}\t{${row.histogram.join(",")}}\n`;
  }
}

/**
 * Create and fill the tables for `days` (dropping same-named tables first) and build their GIN indexes, by
 * streaming one SQL script with `COPY ... FROM STDIN` blocks through psql (much faster than INSERTs). The
 * password reaches psql through PGPASSWORD. Returns every table with its row count.
 */
export async function generate(
  connection: PgConnection,
  options: GenerateOptions,
): Promise<GeneratedTable[]> {
  const seed = options.seed ?? 1;
  const types = options.types ?? AGGREGATE_TYPES;
  const tablesPerDay = options.tablesPerDay ?? 4;
  const rowsPerTable = options.rowsPerTable ?? 1000;
  const planned: GeneratedTable[] = [];
  for (const ds of options.days) {
    for (const type of types) planned.push(...planTables(ds, type, tablesPerDay, seed));
  }
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.PGPASSWORD;
  if (connection.password !== undefined) env.PGPASSWORD = connection.password;
  const psql = options.psql ?? join(dirname(pgDumpPath()), "psql");
  const child = spawn(
    psql,
    [
      "--host",
      connection.host,
      "--port",
      String(connection.port),
      "--username",
      connection.user,
      "--dbname",
      connection.database,
      "--no-password",
      "--quiet",
      "--no-psqlrc",
      "-v",
      "ON_ERROR_STOP=1",
      "-f",
      "-",
    ],
    { env, stdio: ["pipe", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (d: string) => {
    stderr += d;
  });
  const exited = new Promise<number>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve(code ?? 1));
  });
  const write = (text: string) =>
    child.stdin.write(text)
      ? Promise.resolve()
      : new Promise<void>((resolve) => child.stdin.once("drain", resolve));
  child.stdin.on("error", () => {
    // psql stopped reading (it failed); its exit code and stderr tell why
  });
  try {
    for (const table of planned) {
      const ident = `"${table.name}"`;
      await write(
        `DROP TABLE IF EXISTS ${ident};\nCREATE TABLE ${ident} (dimensions jsonb, histogram bigint[]);\n`,
      );
      await write(`COPY ${ident} (dimensions, histogram) FROM STDIN;\n`);
      let batch = "";
      for (const line of copyLines(table.name, rowsPerTable, seed)) {
        batch += line;
        if (batch.length > 1 << 20) {
          await write(batch);
          batch = "";
        }
      }
      await write(`${batch}\\.\n`);
      await write(
        `CREATE INDEX "${table.name}_dimensions_idx" ON ${ident} USING GIN (dimensions jsonb_path_ops);\n`,
      );
      table.rows = rowsPerTable;
      if (child.exitCode !== null) break;
    }
  } finally {
    child.stdin.end();
  }
  const code = await exited;
  if (code !== 0) throw new Error(`psql failed while generating aggregates (exit ${code}): ${stderr.trim()}`);
  return planned;
}
