import type { Readable, Writable } from "node:stream";

/**
 * The ports: one small interface per cloud service. Each has a GCP adapter on the real client library
 * (`gcp/`) and a local adapter (`local/`); both pass the same contract suite (`test/adapters/`).
 * Errors cross a port as the types below, never as a client library's own error classes.
 */

// ---------------------------------------------------------------- errors

export class NotFoundError extends Error {
  constructor(what: string) {
    super(`${what} not found`);
    this.name = "NotFoundError";
  }
}

/** A create-only write lost the race (GCS 412 `ifGenerationMatch: 0`; locally EEXIST on an exclusive open). */
export class AlreadyExistsError extends Error {
  constructor(what: string) {
    super(`${what} already exists`);
    this.name = "AlreadyExistsError";
  }
}

// ---------------------------------------------------------------- warehouse (BigQuery / DuckDB)

export type ColumnType =
  | "STRING"
  | "INT64"
  | "FLOAT64"
  | "NUMERIC"
  | "BOOL"
  | "DATE"
  | "TIMESTAMP"
  | "DATETIME"
  | "JSON"
  | "BYTES"
  | "RECORD";

export interface Column {
  name: string;
  type: ColumnType;
  mode?: "NULLABLE" | "REQUIRED" | "REPEATED";
  description?: string;
  /** For RECORD columns. */
  fields?: Column[];
}

export interface TableSchema {
  columns: Column[];
  /** Day partitioning on a DATE/TIMESTAMP column. */
  partitionBy?: string;
  clusterBy?: string[];
  description?: string;
}

export interface TableRef {
  /** A BigQuery dataset; a DuckDB schema locally. */
  dataset: string;
  table: string;
  /** The BigQuery project; ignored locally. */
  project?: string;
}

export type Row = Record<string, unknown>;

export interface Warehouse {
  /**
   * Run one SQL statement in BigQuery's dialect with named parameters (`@name`). The local adapter runs the
   * same text on DuckDB (backtick-quoted `project.dataset.table` names map to `dataset.table`).
   */
  query<T extends Row = Row>(sql: string, params?: Record<string, unknown>): Promise<T[]>;
  /** Create the dataset and table when missing; an existing table with another schema is an error. */
  ensureTable(ref: TableRef, schema: TableSchema): Promise<void>;
  getSchema(ref: TableRef): Promise<TableSchema | undefined>;
  insertRows(ref: TableRef, rows: Row[]): Promise<void>;
  /**
   * Atomically replace every row whose `column` equals `value` with the given rows or Parquet files:
   * readers see the old partition or the new one, never a mix. Returns the number of rows written.
   */
  replacePartition(
    ref: TableRef,
    partition: { column: string; value: string },
    source: { rows: Row[] } | { parquetUris: string[] },
  ): Promise<{ rows: number }>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------- objects (Cloud Storage / a directory)

export interface ObjectInfo {
  name: string;
  size: number;
  updated: string;
  generation?: string;
  contentType?: string;
  metadata?: Record<string, string>;
}

export interface PutOptions {
  /** Create-only: fail with AlreadyExistsError when the object exists. */
  ifNotExists?: boolean;
  contentType?: string;
  metadata?: Record<string, string>;
}

/** One bucket. Object names are validated: no `..` segments, no leading `/`, no empty segments. */
export interface ObjectStore {
  readonly bucket: string;
  put(name: string, data: Buffer | string, options?: PutOptions): Promise<void>;
  /** Throws NotFoundError. */
  get(name: string): Promise<Buffer>;
  exists(name: string): Promise<boolean>;
  stat(name: string): Promise<ObjectInfo>;
  createReadStream(name: string): Readable;
  createWriteStream(name: string, options?: PutOptions): Writable;
  /** Every object whose name starts with `prefix`, in name order. */
  list(prefix: string): Promise<ObjectInfo[]>;
  delete(name: string, options?: { ignoreMissing?: boolean }): Promise<void>;
  /** `gs://bucket/name`, or `file:///abs/path` locally: what a warehouse load or a job argument takes. */
  uri(name: string): string;
}

export interface Objects {
  bucket(name: string): ObjectStore;
}

// ---------------------------------------------------------------- messages (Pub/Sub / in-process bus)

export interface Message {
  id: string;
  data: Buffer;
  attributes: Record<string, string>;
  publishTime: string;
  /** 1 on first delivery; counts redeliveries (Pub/Sub sets it when a dead-letter policy exists). */
  deliveryAttempt: number;
}

export interface SubscriptionOptions {
  /** After this many failed deliveries the message goes to `deadLetterTopic` (Pub/Sub: 5..100). */
  maxDeliveryAttempts?: number;
  deadLetterTopic?: string;
  /** Exponential redelivery backoff bounds in seconds (Pub/Sub retry policy: 0..600). */
  minBackoffSeconds?: number;
  maxBackoffSeconds?: number;
  ackDeadlineSeconds?: number;
}

/** Resolve = ack. Throw = nack (redelivered with backoff, dead-lettered after maxDeliveryAttempts). */
export type MessageHandler = (message: Message) => Promise<void>;

export interface Subscription {
  readonly name: string;
  close(): Promise<void>;
}

export interface MessageBus {
  ensureTopic(topic: string): Promise<void>;
  publish(
    topic: string,
    data: Buffer | string | object,
    attributes?: Record<string, string>,
  ): Promise<string>;
  subscribe(
    subscription: string,
    topic: string,
    handler: MessageHandler,
    options?: SubscriptionOptions,
  ): Promise<Subscription>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------- wide rows (Bigtable / embedded store)

export interface GcRule {
  maxAgeSeconds?: number;
  maxVersions?: number;
  /** How age and versions combine when both are set (Bigtable's union / intersection). */
  mode?: "union" | "intersection";
}

export interface Family {
  name: string;
  gc?: GcRule;
}

export interface Cell {
  value: Buffer;
  /** Microseconds since the epoch, as Bigtable keeps them. */
  timestamp: number;
}

export interface WideRow {
  key: string;
  /** family -> qualifier -> cells, newest first. */
  families: Record<string, Record<string, Cell[]>>;
}

export interface Mutation {
  key: string;
  /** family -> qualifier -> value. */
  data: Record<string, Record<string, Buffer | string>>;
  timestamp?: number;
}

export interface ScanOptions {
  prefix?: string;
  /** Inclusive start key. */
  start?: string;
  /** Exclusive end key. */
  end?: string;
  limit?: number;
}

export interface WideRowStore {
  ensureTable(table: string, families: Family[]): Promise<void>;
  getFamilies(table: string): Promise<Family[]>;
  mutate(table: string, mutations: Mutation[]): Promise<void>;
  readRow(table: string, key: string): Promise<WideRow | undefined>;
  /** Rows in row-key (byte) order. */
  scan(table: string, options?: ScanOptions): AsyncIterable<WideRow>;
  deleteRows(table: string, keys: string[]): Promise<void>;
  deleteTable(table: string): Promise<void>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------- jobs (Cloud Run Jobs / child processes)

export type JobState = "PENDING" | "RUNNING" | "SUCCEEDED" | "FAILED" | "CANCELLED";

export interface JobRunRequest {
  job: string;
  /** Cloud Run `overrides.containerOverrides[0].args`. */
  args?: string[];
  /** Cloud Run `overrides.containerOverrides[0].env`. */
  env?: Record<string, string>;
  /** Cloud Run `overrides.taskCount`. */
  taskCount?: number;
  /** Cloud Run `overrides.timeout` per task, seconds. */
  timeoutSeconds?: number;
  labels?: Record<string, string>;
}

export interface TaskStatus {
  index: number;
  attempt: number;
  state: JobState;
  exitCode?: number;
  /** Last lines of the task's output, for a failed run's reason. */
  logTail?: string;
}

export interface JobExecution {
  /** `projects/P/locations/L/jobs/J/executions/E`, or a local id of the same shape. */
  name: string;
  job: string;
  state: JobState;
  taskCount: number;
  succeededCount: number;
  failedCount: number;
  cancelledCount: number;
  startTime: string;
  completionTime?: string;
  tasks?: TaskStatus[];
  failureReason?: string;
  labels?: Record<string, string>;
}

export interface JobRunner {
  /** Start an execution and return at once. */
  run(request: JobRunRequest): Promise<JobExecution>;
  get(execution: string): Promise<JobExecution>;
  /** Resolve when the execution ends (or reject with a TimeoutError after `timeoutSeconds`). */
  wait(execution: string, options?: { timeoutSeconds?: number }): Promise<JobExecution>;
  cancel(execution: string): Promise<void>;
}

// ---------------------------------------------------------------- secrets (Secret Manager / env or file)

export interface Secrets {
  /** The latest version's value; throws NotFoundError naming the secret. */
  get(name: string): Promise<string>;
}

// ---------------------------------------------------------------- the set a process gets

export interface Adapters {
  mode: "local" | "gcp";
  warehouse: Warehouse;
  objects: Objects;
  messages: MessageBus;
  wideRows: WideRowStore;
  jobs: JobRunner;
  secrets: Secrets;
  close(): Promise<void>;
}

// ---------------------------------------------------------------- workflows (Workflows Executions API / shared/engine)

export type ExecutionState = "ACTIVE" | "SUCCEEDED" | "FAILED" | "CANCELLED";

export interface WorkflowExecution {
  /** `projects/P/locations/L/workflows/W/executions/E`, or a local id of the same shape. */
  name: string;
  workflow: string;
  state: ExecutionState;
  argument: unknown;
  result?: unknown;
  /** The error map (or its text) of a FAILED execution. */
  error?: unknown;
  labels: Record<string, string>;
  startTime: string;
  endTime?: string;
}

export interface Workflows {
  /** Start an execution of a deployed workflow (`main` receives `argument`) and return at once. */
  execute(
    workflow: string,
    argument: unknown,
    options?: { labels?: Record<string, string> },
  ): Promise<WorkflowExecution>;
  get(execution: string): Promise<WorkflowExecution>;
  /** Resolve when the execution has ended. */
  wait(execution: string): Promise<WorkflowExecution>;
  /** Cancel an execution (and, locally, its child executions and running jobs). */
  cancel(execution: string): Promise<void>;
  list(filter?: {
    workflow?: string;
    labels?: Record<string, string>;
    state?: ExecutionState;
  }): Promise<WorkflowExecution[]>;
}
