import {
  type JobExecution,
  type JobRunner,
  type JobRunRequest,
  type Message,
  type MessageBus,
  NotFoundError,
  type ObjectInfo,
  type ObjectStore,
  type Objects,
  type Row,
  type Secrets,
  type Warehouse,
} from "../../shared/adapters/ports.ts";

/** Small in-memory ports for engine tests (the real local adapters live in shared/adapters/local). */

export type JobScript = { outcome: "SUCCEEDED" | "FAILED"; reason?: string } | { outcome: "HANG" };

export class MemoryJobs implements JobRunner {
  readonly runs: JobRunRequest[] = [];
  readonly cancelled: string[] = [];
  private readonly executions = new Map<string, JobExecution>();
  private readonly waiters = new Map<string, (e: JobExecution) => void>();
  script: (req: JobRunRequest) => JobScript = () => ({ outcome: "SUCCEEDED" });
  private n = 0;

  async run(request: JobRunRequest): Promise<JobExecution> {
    this.runs.push(request);
    const name = `projects/p/locations/l/jobs/${request.job}/executions/${request.job}-${++this.n}`;
    const e: JobExecution = {
      name,
      job: request.job,
      state: "RUNNING",
      taskCount: request.taskCount ?? 1,
      succeededCount: 0,
      failedCount: 0,
      cancelledCount: 0,
      startTime: new Date().toISOString(),
      labels: request.labels,
    };
    this.executions.set(name, e);
    const s = this.script(request);
    if (s.outcome !== "HANG") {
      queueMicrotask(() => this.finish(name, s.outcome, s.outcome === "FAILED" ? s.reason : undefined));
    }
    return { ...e };
  }
  private finish(name: string, state: "SUCCEEDED" | "FAILED" | "CANCELLED", reason?: string) {
    const e = this.executions.get(name);
    if (e?.state !== "RUNNING") return;
    e.state = state;
    e.completionTime = new Date().toISOString();
    if (state === "SUCCEEDED") e.succeededCount = e.taskCount;
    else if (state === "FAILED") e.failedCount = e.taskCount;
    else e.cancelledCount = e.taskCount;
    if (reason) e.failureReason = reason;
    this.waiters.get(name)?.({ ...e });
  }
  async get(execution: string): Promise<JobExecution> {
    const e = this.executions.get(execution);
    if (!e) throw new NotFoundError(execution);
    return { ...e };
  }
  wait(execution: string, options?: { timeoutSeconds?: number }): Promise<JobExecution> {
    const e = this.executions.get(execution);
    if (!e) return Promise.reject(new NotFoundError(execution));
    if (e.state !== "RUNNING") return Promise.resolve({ ...e });
    return new Promise((resolve, reject) => {
      const timer =
        options?.timeoutSeconds !== undefined
          ? setTimeout(() => reject(new Error("TimeoutError")), options.timeoutSeconds * 1000)
          : undefined;
      this.waiters.set(execution, (x) => {
        if (timer) clearTimeout(timer);
        resolve(x);
      });
    });
  }
  async cancel(execution: string): Promise<void> {
    this.cancelled.push(execution);
    this.finish(execution, "CANCELLED", "cancelled");
  }
}

export class MemoryWarehouse implements Warehouse {
  readonly queries: { sql: string; params?: Record<string, unknown> }[] = [];
  rows: Row[] = [];
  fail?: string;
  async query<T extends Row = Row>(sql: string, params?: Record<string, unknown>): Promise<T[]> {
    this.queries.push({ sql, params });
    if (this.fail) throw new Error(this.fail);
    return this.rows as T[];
  }
  async ensureTable(): Promise<void> {}
  async getSchema() {
    return undefined;
  }
  async insertRows(): Promise<void> {}
  async replacePartition() {
    return { rows: 0 };
  }
  async close(): Promise<void> {}
}

class MemoryBucket implements ObjectStore {
  readonly bucket: string;
  readonly data = new Map<string, { body: Buffer; contentType?: string; updated: string }>();
  constructor(bucket: string) {
    this.bucket = bucket;
  }
  async put(name: string, data: Buffer | string, options?: { contentType?: string }) {
    this.data.set(name, {
      body: Buffer.from(data),
      contentType: options?.contentType,
      updated: new Date().toISOString(),
    });
  }
  async get(name: string) {
    const o = this.data.get(name);
    if (!o) throw new NotFoundError(`gs://${this.bucket}/${name}`);
    return o.body;
  }
  async exists(name: string) {
    return this.data.has(name);
  }
  async stat(name: string): Promise<ObjectInfo> {
    const o = this.data.get(name);
    if (!o) throw new NotFoundError(`gs://${this.bucket}/${name}`);
    return { name, size: o.body.length, updated: o.updated, contentType: o.contentType };
  }
  createReadStream(): never {
    throw new Error("not in memory ports");
  }
  createWriteStream(): never {
    throw new Error("not in memory ports");
  }
  async list(prefix: string) {
    return [...this.data.keys()]
      .filter((k) => k.startsWith(prefix))
      .sort()
      .map((k) => ({
        name: k,
        size: this.data.get(k)?.body.length ?? 0,
        updated: this.data.get(k)?.updated ?? "",
      }));
  }
  async delete(name: string) {
    if (!this.data.delete(name)) throw new NotFoundError(`gs://${this.bucket}/${name}`);
  }
  uri(name: string) {
    return `gs://${this.bucket}/${name}`;
  }
}

export class MemoryObjects implements Objects {
  readonly buckets = new Map<string, MemoryBucket>();
  bucket(name: string): MemoryBucket {
    let b = this.buckets.get(name);
    if (!b) {
      b = new MemoryBucket(name);
      this.buckets.set(name, b);
    }
    return b;
  }
}

export class MemoryBus implements MessageBus {
  readonly published: { topic: string; data: Buffer; attributes: Record<string, string> }[] = [];
  async ensureTopic(): Promise<void> {}
  async publish(
    topic: string,
    data: Buffer | string | object,
    attributes: Record<string, string> = {},
  ): Promise<string> {
    this.published.push({
      topic,
      data: Buffer.isBuffer(data)
        ? data
        : Buffer.from(typeof data === "string" ? data : JSON.stringify(data)),
      attributes,
    });
    return String(this.published.length);
  }
  async subscribe(): Promise<never> {
    throw new Error("not in memory ports");
  }
  async close(): Promise<void> {}
}

export class MemorySecrets implements Secrets {
  readonly values: Record<string, string>;
  constructor(values: Record<string, string>) {
    this.values = values;
  }
  async get(name: string): Promise<string> {
    const v = this.values[name];
    if (v === undefined) throw new NotFoundError(`secret ${name}`);
    return v;
  }
}

export type { Message };
