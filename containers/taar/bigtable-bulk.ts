/**
 * Bulk writes to Bigtable as pre-encoded `MutateRows` requests: the profile load builds each row's
 * `MutateRowsRequest.Entry` bytes once (in a worker thread) and this module sends chunks of them over the
 * Bigtable client's own gRPC channel (credentials, endpoint and `BIGTABLE_EMULATOR_HOST` handling are the
 * client's), with a bound on the streams in flight. The Node client's `table.insert` turns every cell into
 * several objects and re-encodes them with protobufjs on the main thread; measured against bttest that path,
 * not the server, capped the load (README "taar").
 *
 * Wire format (google/bigtable/v2/bigtable.proto, data.proto):
 *   MutateRowsRequest { 1: table_name, 2: repeated Entry entries, 3: app_profile_id }
 *   Entry { 1: row_key bytes, 2: repeated Mutation mutations }
 *   Mutation { 1: SetCell set_cell }  SetCell { 1: family_name, 2: column_qualifier, 3: timestamp_micros, 4: value }
 *   MutateRowsResponse { 1: repeated Entry { 1: index int64, 2: google.rpc.Status { 1: code, 2: message } } }
 */
import { NonRetriableError, RetryableError } from "../../shared/core/errors.ts";

// ---------------------------------------------------------------- encoding

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(buf: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

/**
 * Appends `MutateRowsRequest.entries` (field 2, each one SetCell in one family/qualifier at one timestamp) to a
 * growing buffer; `finish()` hands the bytes and each entry's start offset (for resending single entries).
 */
export class EntryWriter {
  private buf: Buffer;
  private pos = 0;
  private readonly starts: number[] = [];
  private readonly cellHead: Buffer;

  constructor(family: string, qualifier: string, timestampMicros: number, initialBytes = 1 << 20) {
    if (!Number.isSafeInteger(timestampMicros) || timestampMicros < 0 || timestampMicros % 1000 !== 0)
      throw new NonRetriableError(`timestamp ${timestampMicros} is not whole milliseconds in microseconds`, {
        field: "timestampMicros",
        fix: "pass Date.now() * 1000 (Bigtable keeps millisecond granularity)",
      });
    const fam = Buffer.from(family, "utf8");
    const qual = Buffer.from(qualifier, "utf8");
    // SetCell fields 1-3, identical for every row: family, qualifier, timestamp.
    const head = Buffer.alloc(3 + fam.length + qual.length + 3 * 5 + 10);
    let p = 0;
    head[p++] = 0x0a;
    p = writeVarint(head, p, fam.length);
    p += fam.copy(head, p);
    head[p++] = 0x12;
    p = writeVarint(head, p, qual.length);
    p += qual.copy(head, p);
    head[p++] = 0x18;
    p = writeVarint(head, p, timestampMicros);
    this.cellHead = head.subarray(0, p);
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  get count(): number {
    return this.starts.length;
  }

  add(key: string, value: Uint8Array): void {
    const keyLen = Buffer.byteLength(key, "utf8");
    const setCell = this.cellHead.length + 1 + varintSize(value.length) + value.length;
    const mutation = 1 + varintSize(setCell) + setCell;
    const entry = 1 + varintSize(keyLen) + keyLen + 1 + varintSize(mutation) + mutation;
    const total = 1 + varintSize(entry) + entry;
    if (this.pos + total > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + total));
      this.buf.copy(grown, 0, 0, this.pos);
      this.buf = grown;
    }
    const b = this.buf;
    let p = this.pos;
    this.starts.push(p);
    b[p++] = 0x12;
    p = writeVarint(b, p, entry);
    b[p++] = 0x0a;
    p = writeVarint(b, p, keyLen);
    p += b.write(key, p, "utf8");
    b[p++] = 0x12;
    p = writeVarint(b, p, mutation);
    b[p++] = 0x0a;
    p = writeVarint(b, p, setCell);
    p += this.cellHead.copy(b, p);
    b[p++] = 0x22;
    p = writeVarint(b, p, value.length);
    b.set(value, p);
    p += value.length;
    this.pos = p;
  }

  /** The encoded entries and `count + 1` offsets (entry i is bytes[offsets[i], offsets[i + 1])). */
  finish(): EncodedEntries {
    const offsets = new Uint32Array(this.starts.length + 1);
    offsets.set(this.starts);
    offsets[this.starts.length] = this.pos;
    // A copy of the used part, so that the chunk can be transferred between threads on its own.
    const bytes = new Uint8Array(this.pos);
    bytes.set(this.buf.subarray(0, this.pos));
    return { bytes, offsets, count: this.starts.length };
  }
}

export interface EncodedEntries {
  bytes: Uint8Array;
  offsets: Uint32Array;
  count: number;
}

/** A whole `MutateRowsRequest`: table name, app profile, then the given entries' bytes. */
export function mutateRowsRequest(tableName: string, entries: Uint8Array[], appProfileId?: string): Buffer {
  const name = Buffer.from(tableName, "utf8");
  const profile = appProfileId ? Buffer.from(appProfileId, "utf8") : undefined;
  const headLen =
    1 +
    varintSize(name.length) +
    name.length +
    (profile ? 1 + varintSize(profile.length) + profile.length : 0);
  let total = headLen;
  for (const e of entries) total += e.length;
  const out = Buffer.allocUnsafe(total);
  let p = 0;
  out[p++] = 0x0a;
  p = writeVarint(out, p, name.length);
  p += name.copy(out, p);
  if (profile) {
    out[p++] = 0x1a;
    p = writeVarint(out, p, profile.length);
    p += profile.copy(out, p);
  }
  for (const e of entries) {
    out.set(e, p);
    p += e.length;
  }
  return out;
}

// ---------------------------------------------------------------- decoding (responses, and entries for tests)

function readVarint(buf: Uint8Array, pos: number): [number, number] {
  let n = 0;
  let mul = 1;
  for (;;) {
    if (pos >= buf.length) throw new Error("truncated protobuf varint");
    const b = buf[pos++];
    n += (b & 0x7f) * mul;
    if (b < 0x80) return [n, pos];
    mul *= 128;
  }
}

/** Field (number, wire type, value) triples of one protobuf message; length-delimited values as subarrays. */
export function* protoFields(buf: Uint8Array): Generator<[number, number, number | Uint8Array]> {
  let pos = 0;
  while (pos < buf.length) {
    const [tag, p1] = readVarint(buf, pos);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) {
      const [v, p2] = readVarint(buf, p1);
      pos = p2;
      yield [field, wire, v];
    } else if (wire === 2) {
      const [len, p2] = readVarint(buf, p1);
      pos = p2 + len;
      if (pos > buf.length) throw new Error("truncated protobuf field");
      yield [field, wire, buf.subarray(p2, pos)];
    } else if (wire === 1) {
      pos = p1 + 8;
      yield [field, wire, 0];
    } else if (wire === 5) {
      pos = p1 + 4;
      yield [field, wire, 0];
    } else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
}

export interface EntryStatus {
  index: number;
  code: number;
  message: string;
}

/** The per-entry statuses of one `MutateRowsResponse` message. */
export function decodeMutateRowsResponse(buf: Uint8Array): EntryStatus[] {
  const out: EntryStatus[] = [];
  for (const [field, wire, value] of protoFields(buf)) {
    if (field !== 1 || wire !== 2) continue;
    const status: EntryStatus = { index: 0, code: 0, message: "" };
    for (const [f, w, v] of protoFields(value as Uint8Array)) {
      if (f === 1 && w === 0) status.index = v as number;
      else if (f === 2 && w === 2) {
        for (const [sf, sw, sv] of protoFields(v as Uint8Array)) {
          if (sf === 1 && sw === 0) status.code = sv as number;
          else if (sf === 2 && sw === 2) status.message = Buffer.from(sv as Uint8Array).toString("utf8");
        }
      }
    }
    out.push(status);
  }
  return out;
}

// ---------------------------------------------------------------- the writer

/** gRPC codes worth retrying per entry or per call (Bigtable's own client retries the same ones). */
const RETRYABLE = new Set([4, 8, 10, 13, 14]);

type RawStream = NodeJS.EventEmitter & { cancel(): void };
export type SendMutateRows = (request: Buffer, tableName: string) => RawStream;

export interface BulkWriterOptions {
  /** projects/P/instances/I/tables/T. */
  tableName: string;
  appProfileId?: string;
  send: SendMutateRows;
  /** Attempts per entry (the first one included). Default 4. */
  attempts?: number;
  /** First backoff in ms, doubled per attempt. Default 200. */
  backoffMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

function callOnce(
  send: SendMutateRows,
  request: Buffer,
  tableName: string,
): Promise<{ statuses: EntryStatus[]; error?: { code: number; message: string } }> {
  return new Promise((resolve) => {
    const statuses: EntryStatus[] = [];
    const stream = send(request, tableName);
    stream.on("data", (msg: Uint8Array) => {
      for (const s of decodeMutateRowsResponse(msg)) statuses.push(s);
    });
    stream.on("error", (err: { code?: number; message?: string }) =>
      resolve({ statuses, error: { code: Number(err.code ?? 2), message: String(err.message ?? err) } }),
    );
    stream.on("end", () => resolve({ statuses }));
  });
}

/**
 * Write one chunk of encoded entries: one MutateRows call, then the entries that failed with a retryable code
 * (or got no status because the call broke) again with exponential backoff. Throws a NonRetriableError for an
 * entry failing with a permanent code and a RetryableError when retries run out; both name the table and the
 * first failure.
 */
export async function writeEntries(o: BulkWriterOptions, chunk: EncodedEntries): Promise<void> {
  const attempts = o.attempts ?? 4;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const entry = (i: number) => chunk.bytes.subarray(chunk.offsets[i], chunk.offsets[i + 1]);
  let pending = Array.from({ length: chunk.count }, (_, i) => i);
  let last = "";
  for (let attempt = 1; pending.length > 0; attempt++) {
    if (attempt > 1) await sleep((o.backoffMs ?? 200) * 2 ** (attempt - 2));
    const request =
      pending.length === chunk.count && chunk.offsets[0] === 0
        ? mutateRowsRequest(
            o.tableName,
            [chunk.bytes.subarray(0, chunk.offsets[chunk.count])],
            o.appProfileId,
          )
        : mutateRowsRequest(o.tableName, pending.map(entry), o.appProfileId);
    const { statuses, error } = await callOnce(o.send, request, o.tableName);
    const done = new Set<number>();
    const retry: number[] = [];
    for (const s of statuses) {
      const original = pending[s.index];
      if (original === undefined) continue;
      done.add(s.index);
      if (s.code === 0) continue;
      last = `code ${s.code}: ${s.message}`;
      if (!RETRYABLE.has(s.code))
        throw new NonRetriableError(
          `Bigtable rejected row ${original} of a ${chunk.count}-row chunk in ${o.tableName} (${last})`,
          { field: o.tableName, fix: "check the table, its column families and the row sizes" },
        );
      retry.push(original);
    }
    if (error) {
      last = `call failed with code ${error.code}: ${error.message}`;
      if (!RETRYABLE.has(error.code) && statuses.length === 0)
        throw new NonRetriableError(`MutateRows on ${o.tableName} failed (${last})`, {
          field: o.tableName,
          fix: "check that the table exists and the job may write to it",
        });
    }
    // Entries without a status (the call broke off) are retried too.
    for (let i = 0; i < pending.length; i++) if (!done.has(i)) retry.push(pending[i]);
    pending = retry.sort((a, b) => a - b);
    if (pending.length > 0 && attempt >= attempts)
      throw new RetryableError(
        `${pending.length} of ${chunk.count} rows not written to ${o.tableName} after ${attempts} attempts (last: ${last})`,
      );
  }
}

export interface BigtableBulk {
  tableName(table: string): string;
  send: SendMutateRows;
  appProfileId?: string;
  close(): Promise<void>;
}

/**
 * A raw MutateRows sender on the Bigtable client's gRPC channel: endpoint, TLS and credentials (or the emulator
 * at BIGTABLE_EMULATOR_HOST) come from @google-cloud/bigtable; requests and responses pass as bytes.
 */
export async function openBigtableBulk(o: {
  projectId: string;
  instanceId: string;
  appProfileId?: string;
}): Promise<BigtableBulk> {
  const [{ Bigtable, v2 }, { grpc }] = await Promise.all([
    import("@google-cloud/bigtable"),
    import("google-gax"),
  ]);
  const metricsEnabled = !process.env.BIGTABLE_EMULATOR_HOST;
  const client = new Bigtable({ projectId: o.projectId, metricsEnabled } as ConstructorParameters<
    typeof Bigtable
  >[0]);
  const options = (client as unknown as { options: { BigtableClient: Record<string, unknown> } }).options;
  const gapic = new v2.BigtableClient(
    options.BigtableClient as ConstructorParameters<typeof v2.BigtableClient>[0],
  );
  await gapic.initialize();
  type Stub = {
    makeServerStreamRequest(
      method: string,
      serialize: (b: Buffer) => Buffer,
      deserialize: (b: Buffer) => Buffer,
      argument: Buffer,
      metadata: InstanceType<typeof grpc.Metadata>,
      options: Record<string, unknown>,
    ): RawStream;
  };
  const stub = (await (gapic as unknown as { bigtableStub: Promise<Stub> }).bigtableStub) as Stub;
  const identity = (b: Buffer) => b;
  return {
    appProfileId: o.appProfileId,
    tableName: (table) => `projects/${o.projectId}/instances/${o.instanceId}/tables/${table}`,
    send(request, tableName) {
      const metadata = new grpc.Metadata();
      metadata.set(
        "x-goog-request-params",
        `table_name=${encodeURIComponent(tableName)}${o.appProfileId ? `&app_profile_id=${encodeURIComponent(o.appProfileId)}` : ""}`,
      );
      return stub.makeServerStreamRequest(
        "/google.bigtable.v2.Bigtable/MutateRows",
        identity,
        identity,
        request,
        metadata,
        {},
      );
    },
    async close() {
      await gapic.close();
      await client.close();
    },
  };
}
