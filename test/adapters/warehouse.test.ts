import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { DuckDBInstance } from "@duckdb/node-api";
import { OAuth2Client } from "google-auth-library";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGcpWarehouse } from "../../shared/adapters/gcp/warehouse.ts";
import { createLocalWarehouse } from "../../shared/adapters/local/warehouse.ts";
import { translateSql } from "../../shared/adapters/local/warehouse-sql.ts";
import type { Warehouse } from "../../shared/adapters/ports.ts";
import { warehouseContract } from "./warehouse-contract.ts";
import { type FakeBigQuery, startFakeBigQuery } from "./warehouse-fake-bigquery.ts";

process.env.METADATA_SERVER_DETECTION = "none";
process.env.GCE_METADATA_HOST = "127.0.0.1:9";

const dir = mkdtempSync(join(tmpdir(), "tessera-warehouse-"));
const opened: Warehouse[] = [];
let files = 0;

/** Writes the rows of a SELECT to a Parquet file with a throwaway in-memory DuckDB. */
async function writeParquet(select: string, path: string): Promise<void> {
  const db = await DuckDBInstance.create(":memory:");
  const c = await db.connect();
  await c.run(`COPY (${select}) TO '${path.replace(/'/g, "''")}' (FORMAT parquet)`);
  c.closeSync();
  db.closeSync();
}

const PROJECT = "tessera-test";
let fake: FakeBigQuery;
beforeAll(async () => {
  mkdirSync(join(dir, "gcs", "loads"), { recursive: true });
  fake = await startFakeBigQuery({ project: PROJECT, gcsRoot: join(dir, "gcs") });
});

afterAll(async () => {
  await fake?.close();
  for (const w of opened) await w.close();
  rmSync(dir, { recursive: true, force: true });
});

let shared: Warehouse | undefined;
warehouseContract("DuckDB file", {
  warehouse: () => {
    if (!shared) {
      shared = createLocalWarehouse({ path: join(dir, "contract.duckdb") });
      opened.push(shared);
    }
    return shared;
  },
  parquet: async (select) => {
    const path = join(dir, `part-${files++}.parquet`);
    await writeParquet(select, path);
    return pathToFileURL(path).href;
  },
});

/** Offline credentials: a bearer token that never expires, so no metadata server or ADC lookup happens. */
function fakeAuth(): OAuth2Client {
  const auth = new OAuth2Client();
  auth.setCredentials({ access_token: "fake-token", expiry_date: Date.now() + 3_600_000 });
  return auth;
}
const bigquery = () =>
  createGcpWarehouse({ projectId: PROJECT, apiEndpoint: fake.url, authClient: fakeAuth() });
warehouseContract("BigQuery client against a loopback fake", {
  warehouse: bigquery,
  parquet: async (select) => {
    const name = `part-${files++}.parquet`;
    await writeParquet(select, join(dir, "gcs", "loads", name));
    return `gs://loads/${name}`;
  },
});

describe("BigQuery REST calls the client makes", () => {
  const since = () => fake.requests.length;
  const schema = {
    partitionBy: "day",
    clusterBy: ["k"],
    columns: [
      { name: "day", type: "DATE" as const },
      { name: "k", type: "STRING" as const },
    ],
  };

  it("ensureTable creates the dataset, then the table with schema, DAY partitioning and clustering", async () => {
    const from = since();
    await bigquery().ensureTable({ dataset: "rest_checks", table: "t" }, schema);
    const calls = fake.requests.slice(from).map((r) => `${r.method} ${r.rawPath}`);
    expect(calls).toEqual([
      `GET /bigquery/v2/projects/${PROJECT}/datasets/rest_checks/tables/t`,
      `GET /bigquery/v2/projects/${PROJECT}/datasets/rest_checks`,
      `POST /bigquery/v2/projects/${PROJECT}/datasets`,
      `POST /bigquery/v2/projects/${PROJECT}/datasets/rest_checks/tables`,
    ]);
    const create = JSON.parse(fake.requests[from + 3].body.toString("utf8"));
    expect(create).toMatchObject({
      tableReference: { tableId: "t" },
      schema: {
        fields: [
          { name: "day", type: "DATE", mode: "NULLABLE" },
          { name: "k", type: "STRING", mode: "NULLABLE" },
        ],
      },
      timePartitioning: { type: "DAY", field: "day" },
      clustering: { fields: ["k"] },
    });
  });

  it("query sends standard SQL with NAMED typed parameters to jobs.query", async () => {
    const from = since();
    await bigquery().query("SELECT @n AS n, @s AS s, @l AS l, @z AS z", { n: 3, s: "x", l: ["a"], z: null });
    const [call] = fake.requests.slice(from);
    expect(call).toMatchObject({ method: "POST", rawPath: `/bigquery/v2/projects/${PROJECT}/queries` });
    const body = JSON.parse(call.body.toString("utf8"));
    expect(body).toMatchObject({ useLegacySql: false, query: "SELECT @n AS n, @s AS s, @l AS l, @z AS z" });
    expect(String(body.parameterMode).toUpperCase()).toBe("NAMED");
    expect(body.queryParameters).toEqual(
      expect.arrayContaining([
        { name: "n", parameterType: { type: "INT64" }, parameterValue: { value: 3 } },
        { name: "s", parameterType: { type: "STRING" }, parameterValue: { value: "x" } },
        expect.objectContaining({
          name: "l",
          parameterType: { type: "ARRAY", arrayType: { type: "STRING" } },
        }),
        expect.objectContaining({ name: "z", parameterType: { type: "STRING" } }),
      ]),
    );
  });

  it("replacePartition loads NDJSON multipart into table$YYYYMMDD with WRITE_TRUNCATE", async () => {
    const from = since();
    const res = await bigquery().replacePartition(
      { dataset: "rest_checks", table: "t" },
      { column: "day", value: "2024-07-04" },
      {
        rows: [
          { day: "2024-07-04", k: "a" },
          { day: "2024-07-04", k: "b" },
        ],
      },
    );
    expect(res).toEqual({ rows: 2 });
    const upload = fake.requests.slice(from).find((r) => r.rawPath.startsWith("/upload/"));
    expect(upload).toMatchObject({
      method: "POST",
      rawPath: `/upload/bigquery/v2/projects/${PROJECT}/jobs`,
      query: { uploadType: "multipart" },
    });
    const text = upload?.body.toString("utf8") ?? "";
    expect(text).toContain('"tableId":"t$20240704"');
    expect(text).toContain('"writeDisposition":"WRITE_TRUNCATE"');
    expect(text).toContain('"sourceFormat":"NEWLINE_DELIMITED_JSON"');
    expect(text).toContain('{"day":"2024-07-04","k":"a"}\n{"day":"2024-07-04","k":"b"}');
  });

  it("sends the dataset location with dataset creation and jobs, never inside a load configuration", async () => {
    const w = createGcpWarehouse({
      projectId: PROJECT,
      location: "EU",
      apiEndpoint: fake.url,
      authClient: fakeAuth(),
    });
    const from = since();
    await w.ensureTable({ dataset: "rest_eu", table: "t" }, schema);
    await w.replacePartition(
      { dataset: "rest_eu", table: "t" },
      { column: "day", value: "2024-07-05" },
      { rows: [{ day: "2024-07-05", k: "eu" }] },
    );
    const calls = fake.requests.slice(from);
    const createDataset = calls.find((r) => r.method === "POST" && r.rawPath.endsWith("/datasets"));
    expect(JSON.parse(createDataset?.body.toString("utf8") ?? "{}")).toMatchObject({ location: "EU" });
    const upload = calls.find((r) => r.rawPath.startsWith("/upload/"))?.body.toString("utf8") ?? "";
    expect(upload).toMatch(/"jobReference":\{[^}]*"location":"EU"/);
  });

  it("made no call the fake does not implement or did not expect, all with the bearer token", () => {
    expect(fake.unexpected).toEqual([]);
    expect(fake.requests.every((r) => r.headers.authorization === "Bearer fake-token")).toBe(true);
  });
});

describe("BigQuery -> DuckDB SQL translation", () => {
  it.each([
    ["SELECT * FROM `p-1.ds.t` WHERE a = @a", 'SELECT * FROM "ds"."t" WHERE a = $a', ["a"]],
    ["SELECT @a, @a, @b_2 FROM `ds.t`", 'SELECT $a, $a, $b_2 FROM "ds"."t"', ["a", "b_2"]],
    ["SELECT '@not', \"@nor\", x -- @nope\nFROM t", "SELECT '@not', \"@nor\", x -- @nope\nFROM t", []],
    ["SELECT 'it''s @x' AS s, email@host", "SELECT 'it''s @x' AS s, email@host", []],
    [
      "SELECT SAFE_CAST(x AS FLOAT64), CAST(y AS NUMERIC), CAST(z AS BYTES)",
      "SELECT TRY_CAST(x AS DOUBLE), CAST(y AS DECIMAL(38,9)), CAST(z AS BLOB)",
      [],
    ],
    [
      "SELECT 1 WHERE k IN UNNEST(@ks) AND f(1) # note",
      "SELECT 1 WHERE k IN (SELECT UNNEST($ks)) AND f(1) -- note",
      ["ks"],
    ],
  ])("%s", (bq, duck, params) => {
    expect(translateSql(bq)).toEqual({ sql: duck, params });
  });

  it("refuses backtick names that are not [project.]dataset.table or carry quotes", () => {
    expect(() => translateSql("SELECT * FROM `a.b.c.d`")).toThrow(/dataset\.table/);
    expect(() => translateSql('SELECT * FROM `ds.t"x`')).toThrow(/not a valid identifier/);
    expect(() => translateSql("SELECT 'open")).toThrow(/unterminated/);
  });
});

describe("local warehouse specifics", () => {
  it("keeps data in the file across close and reopen, and inserts 100k rows through the appender", async () => {
    const path = join(dir, "reopen.duckdb");
    const w = createLocalWarehouse({ path });
    const ref = { dataset: "bulk", table: "t" };
    await w.ensureTable(ref, {
      columns: [
        { name: "id", type: "INT64" },
        { name: "s", type: "STRING" },
      ],
    });
    await w.insertRows(
      ref,
      Array.from({ length: 100_000 }, (_, i) => ({ id: i, s: `row ${i}` })),
    );
    await w.close();
    await expect(w.query("SELECT 1")).rejects.toThrow(/closed/);
    const again = createLocalWarehouse({ path });
    opened.push(again);
    expect(await again.query("SELECT COUNT(*) AS c, MAX(id) AS m FROM `bulk.t`")).toEqual([
      { c: 100_000, m: 99_999 },
    ]);
  });

  it("lets several processes take turns on one file when releaseAfterMs is set", async () => {
    const path = join(dir, "turns.duckdb");
    const w = createLocalWarehouse({ path, releaseAfterMs: 0 });
    opened.push(w);
    await w.ensureTable(
      { dataset: "shared", table: "t" },
      {
        columns: [
          { name: "id", type: "INT64" },
          { name: "who", type: "STRING" },
        ],
      },
    );
    const child = fileURLToPath(new URL("./warehouse-child.ts", import.meta.url));
    const run = (first: number) =>
      promisify(execFile)(process.execPath, ["--import", "tsx", child, path, String(first), "100"], {
        cwd: fileURLToPath(new URL("../..", import.meta.url)),
      });
    // The parent keeps writing while a child process writes too.
    const parent = async () => {
      for (let i = 0; i < 5; i++)
        await w.insertRows({ dataset: "shared", table: "t" }, [{ id: i, who: "parent" }]);
    };
    await Promise.all([run(1000), parent()]);
    expect(await w.query("SELECT COUNT(*) AS c, COUNT(DISTINCT who) AS writers FROM `shared.t`")).toEqual([
      { c: 105, writers: 2 },
    ]);
  });

  it("refuses gs:// Parquet URIs locally, naming the field", async () => {
    const w = createLocalWarehouse({ path: ":memory:" });
    opened.push(w);
    const ref = { dataset: "p", table: "t" };
    await w.ensureTable(ref, { partitionBy: "d", columns: [{ name: "d", type: "DATE" }] });
    await expect(
      w.replacePartition(ref, { column: "d", value: "2024-01-01" }, { parquetUris: ["gs://b/x.parquet"] }),
    ).rejects.toThrow(/parquetUris\[0\].*file:\/\//);
  });
});
