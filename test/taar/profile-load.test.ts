import { EventEmitter } from "node:events";
import { inflateSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import {
  decodeMutateRowsResponse,
  EntryWriter,
  mutateRowsRequest,
  openBigtableBulk,
  protoFields,
  type SendMutateRows,
  writeEntries,
} from "../../containers/taar/bigtable-bulk.ts";
import {
  avroSchemaOf,
  decodeAvroFile,
  encodeAvroFile,
  ensureProfileTable,
  exportAvro,
  fillTemp,
  profilePayload,
} from "../../containers/taar/profile.ts";
import { buildJobEntries, buildJobs, splitAvro } from "../../containers/taar/profile-build.ts";
import { loadAvroBuffersBulk } from "../../containers/taar/profile-load.ts";
import { sha256Hex } from "../../containers/taar/rng.ts";
import { seedTelemetry } from "../../containers/taar/seed-data.ts";
import { profileLoad } from "../../containers/taar/steps.ts";
import { PROFILE_TMP_SCHEMA } from "../../containers/taar/tables.ts";
import { createGcpWideRows } from "../../shared/adapters/gcp/widerows.ts";
import { localPorts } from "./helpers.ts";

const profileRow = (i: number) => ({
  client_id: `client-${i}`,
  city: i % 2 ? "Berlin" : null,
  subsession_length: i * 10,
  locale: "de",
  os: "Linux",
  active_addons: Array.from({ length: i % 4 }, (_, k) => ({ addon_id: `a${k}@x`, is_system: false })),
  places_bookmarks_count: i % 3 ? i : null,
  scalar_parent_browser_engagement_tab_open_event_count: 4,
  scalar_parent_browser_engagement_total_uri_count: null,
  scalar_parent_browser_engagement_unique_domains_count: 9,
});

const fields = (b: Uint8Array) => [...protoFields(b)];
const text = (v: unknown) => Buffer.from(v as Uint8Array).toString("utf8");

/** Encode a protobuf message from (field, varint | bytes) pairs, for fake responses. */
function proto(parts: [number, number | Uint8Array][]): Buffer {
  const out: number[] = [];
  const varint = (n: number) => {
    while (n >= 0x80) {
      out.push((n % 128) | 0x80);
      n = Math.floor(n / 128);
    }
    out.push(n);
  };
  for (const [f, v] of parts) {
    if (typeof v === "number") {
      varint(f * 8);
      varint(v);
    } else {
      varint(f * 8 + 2);
      varint(v.length);
      out.push(...v);
    }
  }
  return Buffer.from(out);
}
const response = (statuses: [number, number][]) =>
  proto(
    statuses.map(([index, code]) => [
      1,
      proto([
        [1, index],
        [
          2,
          proto(
            code
              ? [
                  [1, code],
                  [2, Buffer.from(`failed ${index}`)],
                ]
              : [],
          ),
        ],
      ]),
    ]),
  );

describe("MutateRows encoding", () => {
  it("writes entries as MutateRowsRequest field 2 with one SetCell each, and resends single entries", () => {
    const w = new EntryWriter("profile", "payload", 1_700_000_000_000_000);
    w.add("k1", Buffer.from("v1"));
    w.add("ключ", Buffer.alloc(300, 7));
    const e = w.finish();
    expect(e.count).toBe(2);
    const req = mutateRowsRequest("projects/p/instances/i/tables/t", [e.bytes], "prof");
    const top = fields(req);
    expect(top.map(([f]) => f)).toEqual([1, 3, 2, 2]);
    expect(text(top[0][2])).toBe("projects/p/instances/i/tables/t");
    expect(text(top[1][2])).toBe("prof");
    const [key, mutation] = fields(top[3][2] as Uint8Array);
    expect(text(key[2])).toBe("ключ");
    const [[setCellField, , setCell]] = fields(mutation[2] as Uint8Array);
    expect(setCellField).toBe(1);
    const cell = fields(setCell as Uint8Array);
    expect(cell.map(([f]) => f)).toEqual([1, 2, 3, 4]);
    expect([text(cell[0][2]), text(cell[1][2]), cell[2][2]]).toEqual([
      "profile",
      "payload",
      1_700_000_000_000_000,
    ]);
    expect(Buffer.from(cell[3][2] as Uint8Array)).toEqual(Buffer.alloc(300, 7));
    // Entry 1 alone, sliced by offsets, is a request of its own.
    const one = mutateRowsRequest("t", [e.bytes.subarray(e.offsets[1], e.offsets[2])]);
    expect(fields(one).map(([f]) => f)).toEqual([1, 2]);
    expect(() => new EntryWriter("profile", "payload", 1_700_000_000_000_123)).toThrow(/whole milliseconds/);
  });

  it("decodes MutateRowsResponse statuses", () => {
    expect(
      decodeMutateRowsResponse(
        response([
          [0, 0],
          [1, 14],
        ]),
      ),
    ).toEqual([
      { index: 0, code: 0, message: "" },
      { index: 1, code: 14, message: "failed 1" },
    ]);
  });
});

describe("writeEntries retries", () => {
  const chunk = () => {
    const w = new EntryWriter("profile", "payload", 1000);
    for (let i = 0; i < 5; i++) w.add(`row${i}`, Buffer.from(`v${i}`));
    return w.finish();
  };
  /** A fake MutateRows: answers each call with the next script entry; records the row keys sent. */
  function fakeSend(script: ((keys: string[]) => { statuses?: [number, number][]; error?: number })[]) {
    const calls: string[][] = [];
    const send: SendMutateRows = (request) => {
      const keys = fields(request)
        .filter(([f]) => f === 2)
        .map(([, , entry]) => text(fields(entry as Uint8Array)[0][2]));
      calls.push(keys);
      const answer = script[calls.length - 1](keys);
      const stream = Object.assign(new EventEmitter(), { cancel() {} });
      setImmediate(() => {
        if (answer.statuses) stream.emit("data", response(answer.statuses));
        if (answer.error) stream.emit("error", Object.assign(new Error("boom"), { code: answer.error }));
        else stream.emit("end");
      });
      return stream;
    };
    return { calls, send };
  }
  const sleeps: number[] = [];
  const sleep = async (ms: number) => {
    sleeps.push(ms);
  };

  it("resends only the entries that failed with a retryable code, with backoff", async () => {
    sleeps.length = 0;
    const f = fakeSend([
      () => ({
        statuses: [
          [0, 0],
          [1, 14],
          [2, 0],
          [3, 4],
          [4, 0],
        ],
      }),
      (keys) => ({ statuses: keys.map((_, i) => [i, 0]) }),
    ]);
    await writeEntries({ tableName: "t", send: f.send, sleep, backoffMs: 10 }, chunk());
    expect(f.calls).toEqual([
      ["row0", "row1", "row2", "row3", "row4"],
      ["row1", "row3"],
    ]);
    expect(sleeps).toEqual([10]);
  });

  it("retries the entries without a status when the call breaks off", async () => {
    const f = fakeSend([
      () => ({
        statuses: [
          [0, 0],
          [1, 0],
        ],
        error: 14,
      }),
      (keys) => ({ statuses: keys.map((_, i) => [i, 0]) }),
    ]);
    await writeEntries({ tableName: "t", send: f.send, sleep }, chunk());
    expect(f.calls[1]).toEqual(["row2", "row3", "row4"]);
  });

  it("fails on a permanent code at once, and after the attempts on retryable ones, naming the table", async () => {
    const permanent = fakeSend([
      () => ({
        statuses: [
          [0, 0],
          [1, 3],
        ],
      }),
    ]);
    await expect(
      writeEntries({ tableName: "projects/p/instances/i/tables/t", send: permanent.send, sleep }, chunk()),
    ).rejects.toMatchObject({
      name: "NonRetriableError",
      message: expect.stringMatching(
        /row 1 of a 5-row chunk in projects\/p\/instances\/i\/tables\/t \(code 3/,
      ),
    });
    const flaky = fakeSend(Array.from({ length: 3 }, () => () => ({ error: 14 })));
    await expect(
      writeEntries({ tableName: "t", send: flaky.send, sleep, attempts: 3 }, chunk()),
    ).rejects.toThrow(/5 of 5 rows not written to t after 3 attempts \(last: call failed with code 14/);
    expect(flaky.calls).toHaveLength(3);
    const missing = fakeSend([() => ({ error: 5 })]);
    await expect(writeEntries({ tableName: "t", send: missing.send, sleep }, chunk())).rejects.toThrow(
      /MutateRows on t failed \(call failed with code 5/,
    );
  });
});

describe("Avro blocks", () => {
  it("splits a container into blocks whose records are what avsc's decoder reads", async () => {
    const rows = Array.from({ length: 3000 }, (_, i) => profileRow(i));
    const file = await encodeAvroFile(avroSchemaOf(PROFILE_TMP_SCHEMA), rows);
    const c = splitAvro(file, "f.avro");
    expect(c.codec).toBe("deflate");
    expect(c.blocks.length).toBeGreaterThan(1);
    expect(c.blocks.reduce((a, b) => a + b.count, 0)).toBe(3000);
    const jobs = buildJobs(c, "f.avro", 1000, 5_000_000);
    expect(jobs.length).toBeGreaterThanOrEqual(2);
    expect(jobs.reduce((a, j) => a + j.counts.reduce((x, y) => x + y, 0), 0)).toBe(3000);
    // The entries of every job, in order, carry the payload of every row.
    const expected = await decodeAvroFile(file, "f.avro");
    let i = 0;
    for (const job of jobs) {
      const e = buildJobEntries(job);
      for (let k = 0; k < e.count; k++, i++) {
        const [key, mutation] = fields(
          fields(e.bytes.subarray(e.offsets[k], e.offsets[k + 1]))[0][2] as Uint8Array,
        );
        const { key: want, record } = profilePayload(expected[i]);
        expect(text(key[2])).toBe(want);
        const value = fields(fields(mutation[2] as Uint8Array)[0][2] as Uint8Array)[3][2] as Uint8Array;
        expect(JSON.parse(inflateSync(value).toString())).toEqual(JSON.parse(JSON.stringify(record)));
      }
    }
    expect(i).toBe(3000);
  });

  it("names the file on a bad header, a truncated block or a broken sync marker", async () => {
    const file = await encodeAvroFile(avroSchemaOf(PROFILE_TMP_SCHEMA), [profileRow(1), profileRow(2)]);
    expect(() => splitAvro(Buffer.from("nope"), "a.avro")).toThrow(/a.avro is not a readable Avro file/);
    expect(() => splitAvro(file.subarray(0, file.length - 5), "b.avro")).toThrow(/b.avro .*truncated/);
    const broken = Buffer.from(file);
    broken[broken.length - 1] ^= 0xff;
    expect(() => splitAvro(broken, "c.avro")).toThrow(/c.avro .*sync marker/);
  });
});

describe("bulk profile load into bttest", () => {
  const projectId = "test-project";
  const instanceId = "test-instance";
  const store = createGcpWideRows({ projectId, instanceId });
  const tables: string[] = [];
  const tableName = (s: string) => {
    const t = `taar_bulk_${s}_${process.pid}`;
    tables.push(t);
    return t;
  };
  afterAll(async () => {
    for (const t of tables) await store.deleteTable(t).catch(() => undefined);
    await store.close();
  });

  for (const workers of [0, 2]) {
    it(`loads every row with the port path's key and payload (${workers} builder threads)`, async () => {
      const table = tableName(`w${workers}`);
      await ensureProfileTable(store, table);
      const rows = Array.from({ length: 2500 }, (_, i) => profileRow(i));
      const type = avroSchemaOf(PROFILE_TMP_SCHEMA);
      const files = [
        { name: "a.avro", data: await encodeAvroFile(type, rows.slice(0, 1200)) },
        { name: "b.avro", data: await encodeAvroFile(type, rows.slice(1200)) },
      ];
      const bulk = await openBigtableBulk({ projectId, instanceId });
      const stamps = { first: 0, second: 0 };
      try {
        // Recent: reads drop cells past the family's 90-day max age.
        const ts = Date.now() * 1000;
        expect(
          await loadAvroBuffersBulk(bulk, files, {
            table,
            workers,
            batchRows: 700,
            streams: 3,
            timestampMicros: ts,
          }),
        ).toEqual({ files: 2, rows: 2500 });
        stamps.first = ts;
        stamps.second = ts + 1000;
        // A reload keeps one version (max versions 1), with the newer timestamp.
        await loadAvroBuffersBulk(bulk, [files[0]], { table, workers, timestampMicros: ts + 1000 });
      } finally {
        await bulk.close();
      }
      let n = 0;
      for await (const r of store.scan(table)) {
        expect(r.key).toMatch(/^[0-9a-f]{64}$/);
        n++;
      }
      expect(n).toBe(2500);
      for (const i of [0, 7, 1500, 2499]) {
        const r = await store.readRow(table, sha256Hex(`client-${i}`));
        const cells = r!.families.profile.payload;
        expect(cells).toHaveLength(1);
        expect(cells[0].timestamp).toBe(i < 1200 ? stamps.second : stamps.first);
        const back = (await decodeAvroFile(files[i < 1200 ? 0 : 1].data, "x")).find(
          (x) => x.client_id === `client-${i}`,
        )!;
        expect(JSON.parse(inflateSync(cells[0].value).toString())).toEqual(
          JSON.parse(JSON.stringify(profilePayload(back).record)),
        );
      }
    }, 60_000);
  }

  it("a corrupt block fails the load naming the file, from a builder thread too", async () => {
    const table = tableName("corrupt");
    await ensureProfileTable(store, table);
    const file = Buffer.from(
      await encodeAvroFile(
        avroSchemaOf(PROFILE_TMP_SCHEMA),
        Array.from({ length: 50 }, (_, i) => profileRow(i)),
      ),
    );
    const block = splitAvro(file, "x").blocks[0];
    const start = block.data.byteOffset - file.byteOffset;
    for (let k = 2; k < 40; k++) file[start + k] ^= 0x5a;
    const bulk = await openBigtableBulk({ projectId, instanceId });
    try {
      for (const workers of [0, 1])
        await expect(
          loadAvroBuffersBulk(bulk, [{ name: "taar-profile.avro.000003", data: file }], { table, workers }),
        ).rejects.toMatchObject({
          name: "NonRetriableError",
          field: "taar-profile.avro.000003",
          message: expect.stringMatching(/taar-profile.avro.000003 is not a readable Avro file/),
        });
    } finally {
      await bulk.close();
    }
  }, 60_000);

  it("fails naming the table when it does not exist", async () => {
    const bulk = await openBigtableBulk({ projectId, instanceId });
    try {
      const file = await encodeAvroFile(avroSchemaOf(PROFILE_TMP_SCHEMA), [profileRow(1)]);
      await expect(
        loadAvroBuffersBulk(bulk, [{ name: "a.avro", data: file }], { table: "no_such_table", workers: 0 }),
      ).rejects.toThrow(/no_such_table/);
    } finally {
      await bulk.close();
    }
  });

  it("the profile-load step takes the bulk path when the ports carry Bigtable coordinates", async () => {
    const ports = localPorts();
    await seedTelemetry(ports.warehouse, { day: "2024-06-29", clients: 120, days: 1 });
    await fillTemp(ports.warehouse, { day: "2024-06-29", sampleRate: 1, seed: 1, dialect: "duckdb" });
    await exportAvro(ports.warehouse, ports.data, { day: "2024-06-29", taskIndex: 0, taskCount: 1 });
    const gcpLike = { ...ports, wideRows: store, bigtable: { projectId, instanceId } };
    tables.push("taar_profile");
    const summary = await profileLoad({ ports: gcpLike, day: "2024-06-29", params: {} });
    expect(summary).toMatchObject({ path: "bulk", files: 1, rows: 120 });
    let n = 0;
    for await (const _ of store.scan("taar_profile")) n++;
    expect(n).toBe(120);
    await ports.close();
  }, 60_000);
});
