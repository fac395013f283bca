import { BIGINT, DOUBLE, DuckDBDataChunk, DuckDBInstance, type DuckDBType, INTEGER } from "@duckdb/node-api";
import type { DojoFrame, TextColumn } from "./frame.ts";

/**
 * A seeded Dojo-like model output: points nested in country > admin1 > admin2 > admin3 boxes (every point lies
 * inside its regions' boxes), one row per point x day x feature, values ~ Gamma(2, 5). Same seed, same rows.
 */
export interface GenerateOptions {
  points: number;
  days: number;
  features?: string[];
  seed?: number;
  /** First day, epoch ms (default 2020-01-01 UTC). Rows are daily from there. */
  startMs?: number;
  /** Qualifier columns and their number of distinct values. */
  qualifiers?: { name: string; values: number }[];
  /** Add a numeric weight column of this name (values in [0.5, 2)). */
  weightColumn?: string;
  /** Region tree fan-out: countries, admin1 per country, admin2 per admin1, admin3 per admin2. */
  fanOut?: [number, number, number, number];
  /** Bounding box of the whole model: [latMin, latMax, lngMin, lngMax] (default East Africa as in the spec's anchor). */
  box?: [number, number, number, number];
}

/** The spec's reference scenarios: 5M rows each (2 features). */
export const SCENARIOS = {
  A: { points: 10_000, days: 250 },
  B: { points: 500_000, days: 5 },
} as const;
export type ScenarioName = keyof typeof SCENARIOS;

const COUNTRY_NAMES = [
  "Ethiopia",
  "Kenya",
  "Somalia",
  "South Sudan",
  "Uganda",
  "Tanzania",
  "Rwanda",
  "Burundi",
  "Eritrea",
  "Djibouti",
];

/** mulberry32: small, fast, good enough for synthetic data. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Leaf {
  path: [number, number, number, number];
  box: [number, number, number, number];
}

export function generate(options: GenerateOptions): DojoFrame {
  const features = options.features ?? ["crop_production", "rainfall"];
  const random = seededRandom(options.seed ?? 20240131);
  const start = options.startMs ?? Date.UTC(2020, 0, 1);
  const [nc, n1, n2, n3] = options.fanOut ?? [5, 10, 4, 3];
  const [latMin, latMax, lngMin, lngMax] = options.box ?? [-5, 20, 30, 50];

  // Region tree: countries split the box by longitude, admin1 by latitude, admin2 by longitude, admin3 by latitude.
  const country: string[] = [];
  const admin1: string[] = [];
  const admin2: string[] = [];
  const admin3: string[] = [];
  const leaves: Leaf[] = [];
  for (let c = 0; c < nc; c++) {
    const cName = COUNTRY_NAMES[c] ?? `Country ${c + 1}`;
    country.push(cName);
    const cw = (lngMax - lngMin) / nc;
    const cBox: [number, number, number, number] = [latMin, latMax, lngMin + c * cw, lngMin + (c + 1) * cw];
    for (let a = 0; a < n1; a++) {
      const a1 = admin1.push(`${cName} Region ${a + 1}`) - 1;
      const h = (cBox[1] - cBox[0]) / n1;
      const aBox: [number, number, number, number] = [
        cBox[0] + a * h,
        cBox[0] + (a + 1) * h,
        cBox[2],
        cBox[3],
      ];
      for (let b = 0; b < n2; b++) {
        const a2 = admin2.push(`${admin1[a1]} Zone ${b + 1}`) - 1;
        const w = (aBox[3] - aBox[2]) / n2;
        const bBox: [number, number, number, number] = [
          aBox[0],
          aBox[1],
          aBox[2] + b * w,
          aBox[2] + (b + 1) * w,
        ];
        for (let d = 0; d < n3; d++) {
          const a3 = admin3.push(`${admin2[a2]} Woreda ${d + 1}`) - 1;
          const hh = (bBox[1] - bBox[0]) / n3;
          leaves.push({
            path: [c, a1, a2, a3],
            box: [bBox[0] + d * hh, bBox[0] + (d + 1) * hh, bBox[2], bBox[3]],
          });
        }
      }
    }
  }

  const P = options.points;
  const pLeaf = new Int32Array(P);
  const pLat = new Float64Array(P);
  const pLng = new Float64Array(P);
  for (let p = 0; p < P; p++) {
    const l = Math.floor(random() * leaves.length);
    const leaf = leaves[l];
    pLeaf[p] = l;
    const [la0, la1, lo0, lo1] = leaf.box;
    pLat[p] = Math.round((la0 + random() * (la1 - la0)) * 1e4) / 1e4;
    pLng[p] = Math.round((lo0 + random() * (lo1 - lo0)) * 1e4) / 1e4;
  }
  const F = features.length;
  const n = P * options.days * F;
  const timestamp = new Float64Array(n);
  const featureCodes = new Int32Array(n);
  const cc = new Int32Array(n);
  const c1 = new Int32Array(n);
  const c2 = new Int32Array(n);
  const c3 = new Int32Array(n);
  const lat = new Float64Array(n);
  const lng = new Float64Array(n);
  const value = new Float64Array(n);
  const quals = (options.qualifiers ?? []).map((q) => ({
    name: q.name,
    column: {
      values: Array.from({ length: q.values }, (_, i) => `${q.name}_${i + 1}`),
      codes: new Int32Array(n),
    } as TextColumn,
  }));
  const weight = options.weightColumn ? new Float64Array(n) : undefined;
  let i = 0;
  for (let d = 0; d < options.days; d++) {
    const ts = start + d * 86_400_000;
    for (let p = 0; p < P; p++) {
      const path = leaves[pLeaf[p]].path;
      for (let f = 0; f < F; f++, i++) {
        timestamp[i] = ts;
        featureCodes[i] = f;
        cc[i] = path[0];
        c1[i] = path[1];
        c2[i] = path[2];
        c3[i] = path[3];
        lat[i] = pLat[p];
        lng[i] = pLng[p];
        value[i] = -5 * Math.log((1 - random()) * (1 - random()));
        for (const q of quals) q.column.codes[i] = Math.floor(random() * q.column.values.length);
        if (weight) weight[i] = 0.5 + 1.5 * random();
      }
    }
  }
  const qualifiers = new Map<string, TextColumn>();
  for (const q of quals) qualifiers.set(q.name, q.column);
  const columns = [
    "timestamp",
    "country",
    "admin1",
    "admin2",
    "admin3",
    "lat",
    "lng",
    "feature",
    "value",
    ...quals.map((q) => q.name),
  ];
  if (options.weightColumn) columns.push(options.weightColumn);
  return {
    rows: n,
    timestamp,
    feature: { values: [...features], codes: featureCodes },
    regions: {
      country: { values: country, codes: cc },
      admin1: { values: admin1, codes: c1 },
      admin2: { values: admin2, codes: c2 },
      admin3: { values: admin3, codes: c3 },
    },
    lat,
    lng,
    value,
    qualifiers,
    weight: weight && options.weightColumn ? { name: options.weightColumn, values: weight } : undefined,
    columns,
  };
}

function sqlString(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/**
 * Write a frame as one Dojo Parquet file (zstd) through DuckDB: the numeric columns and text codes go in as
 * typed-array chunks, text is looked up from a constant list in the COPY query. Nulls: NaN numbers and -1 codes.
 */
export async function writeParquet(frame: DojoFrame, path: string): Promise<void> {
  const instance = await DuckDBInstance.create(":memory:", { threads: "2" });
  const connection = await instance.connect();
  try {
    type Col = {
      name: string;
      type: DuckDBType;
      kind: "f64" | "i32" | "ts";
      data: Float64Array | Int32Array;
      dict?: string[];
    };
    const cols: Col[] = [];
    const text = (name: string, t: TextColumn) =>
      cols.push({ name, type: INTEGER, kind: "i32", data: t.codes, dict: t.values });
    for (const name of frame.columns) {
      if (name === "timestamp") cols.push({ name, type: BIGINT, kind: "ts", data: frame.timestamp });
      else if (name === "feature") text(name, frame.feature);
      else if (name === "value") cols.push({ name, type: DOUBLE, kind: "f64", data: frame.value });
      else if (name === "lat" && frame.lat) cols.push({ name, type: DOUBLE, kind: "f64", data: frame.lat });
      else if (name === "lng" && frame.lng) cols.push({ name, type: DOUBLE, kind: "f64", data: frame.lng });
      else if (frame.weight && name === frame.weight.name)
        cols.push({ name, type: DOUBLE, kind: "f64", data: frame.weight.values });
      else if (name in frame.regions)
        text(name, frame.regions[name as keyof typeof frame.regions] as TextColumn);
      else if (frame.qualifiers.has(name)) text(name, frame.qualifiers.get(name) as TextColumn);
    }
    const q = (s: string) => `"${s.replaceAll('"', '""')}"`;
    await connection.run(`CREATE TABLE raw (${cols.map((c, k) => `c${k} ${c.type.toString()}`).join(", ")})`);
    const appender = await connection.createAppender("raw");
    const CHUNK = 2048;
    for (let start = 0; start < frame.rows; start += CHUNK) {
      const size = Math.min(CHUNK, frame.rows - start);
      const chunk = DuckDBDataChunk.create(
        cols.map((c) => c.type),
        size,
      );
      cols.forEach((c, k) => {
        const vector = chunk.getColumnVector(k) as unknown as {
          items?: Float64Array | Int32Array | BigInt64Array;
          setItem(i: number, v: unknown): void;
          flush(): void;
        };
        const slice = c.data.subarray(start, start + size);
        const complete =
          c.kind === "i32"
            ? (slice as Int32Array).every((v) => v >= 0)
            : (slice as Float64Array).every((v) => !Number.isNaN(v));
        if (complete && c.kind !== "ts" && vector.items && vector.items.constructor === slice.constructor) {
          (vector.items as Float64Array | Int32Array).set(slice);
          vector.flush();
          return;
        }
        for (let j = 0; j < size; j++) {
          const v = c.data[start + j];
          if (c.kind === "ts") vector.setItem(j, Number.isNaN(v) ? null : BigInt(v));
          else if (c.kind === "i32") vector.setItem(j, v < 0 ? null : v);
          else vector.setItem(j, Number.isNaN(v) ? null : v);
        }
        vector.flush();
      });
      appender.appendDataChunk(chunk);
    }
    appender.closeSync();
    const select = cols
      .map((c, k) =>
        c.dict
          ? `([${c.dict.map(sqlString).join(", ")}])[c${k} + 1] AS ${q(c.name)}`
          : `c${k} AS ${q(c.name)}`,
      )
      .join(", ");
    await connection.run(
      `COPY (SELECT ${select} FROM raw) TO ${sqlString(path)} (FORMAT parquet, COMPRESSION zstd)`,
    );
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
