/**
 * Structured logging in Cloud Logging's JSON shape (one object per line on stdout/stderr:
 * `severity`, `message`, `time`, `logging.googleapis.com/labels`, `logging.googleapis.com/trace`), which Cloud
 * Run and Cloud Functions parse into log entries. On a TTY the same records are printed for a person.
 */

export type Severity = "DEBUG" | "INFO" | "NOTICE" | "WARNING" | "ERROR" | "CRITICAL";

export interface LogLabels {
  pipeline?: string;
  partition?: string;
  runId?: string;
  [key: string]: string | undefined;
}

export interface LogRecord {
  severity: Severity;
  message: string;
  time: string;
  "logging.googleapis.com/labels"?: Record<string, string>;
  "logging.googleapis.com/trace"?: string;
  [key: string]: unknown;
}

export interface LogSink {
  write(record: LogRecord): void;
}

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  notice(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** A logger whose records carry these labels as well. */
  child(labels: LogLabels): Logger;
  readonly labels: Readonly<Record<string, string>>;
}

const ORDER: Record<Severity, number> = { DEBUG: 0, INFO: 1, NOTICE: 2, WARNING: 3, ERROR: 4, CRITICAL: 5 };

export interface LoggerOptions {
  labels?: LogLabels;
  /** `projects/<project>/traces/<traceId>`; taken from `X-Cloud-Trace-Context` by the function host. */
  trace?: string;
  sink?: LogSink;
  minSeverity?: Severity;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const sink = options.sink ?? defaultSink();
  const min =
    ORDER[options.minSeverity ?? (process.env.TESSERA_LOG_LEVEL as Severity | undefined) ?? "INFO"] ?? 1;
  const labels = clean(options.labels ?? {});
  const emit = (severity: Severity, message: string, fields?: Record<string, unknown>) => {
    if (ORDER[severity] < min) return;
    const record: LogRecord = { severity, message, time: new Date().toISOString(), ...fields };
    if (Object.keys(labels).length > 0) record["logging.googleapis.com/labels"] = labels;
    if (options.trace) record["logging.googleapis.com/trace"] = options.trace;
    sink.write(record);
  };
  return {
    labels,
    debug: (m, f) => emit("DEBUG", m, f),
    info: (m, f) => emit("INFO", m, f),
    notice: (m, f) => emit("NOTICE", m, f),
    warn: (m, f) => emit("WARNING", m, f),
    error: (m, f) => emit("ERROR", m, f),
    child: (more) => createLogger({ ...options, sink, labels: { ...labels, ...more } }),
  };
}

function clean(labels: LogLabels): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) if (v !== undefined) out[k] = v;
  return out;
}

/** JSON lines for machines, or a short human line on a TTY. Logs go to stderr so stdout stays for results. */
export function defaultSink(stream: NodeJS.WriteStream = process.stderr): LogSink {
  const human = stream.isTTY === true && process.env.TESSERA_LOG_FORMAT !== "json";
  return human ? humanSink(stream) : jsonSink(stream);
}

export function jsonSink(stream: { write(s: string): unknown }): LogSink {
  return { write: (r) => stream.write(`${JSON.stringify(r)}\n`) };
}

export function humanSink(stream: { write(s: string): unknown }): LogSink {
  return {
    write: (r) => {
      const { severity, message, time, ...rest } = r;
      const labels = rest["logging.googleapis.com/labels"];
      delete rest["logging.googleapis.com/labels"];
      delete rest["logging.googleapis.com/trace"];
      const where = labels ? Object.values(labels).join(" ") : "";
      const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : "";
      stream.write(
        `${time.slice(11, 19)} ${severity.padEnd(7)} ${where ? `[${where}] ` : ""}${message}${extra}\n`,
      );
    },
  };
}

/** A sink that keeps records in memory: for tests and for the local twin's run history. */
export function memorySink(): LogSink & { records: LogRecord[] } {
  const records: LogRecord[] = [];
  return { records, write: (r) => records.push(r) };
}

/** `projects/P/traces/T` from an `X-Cloud-Trace-Context: T/S;o=1` header. */
export function traceFromHeader(header: string | undefined, project: string | undefined): string | undefined {
  if (!header || !project) return undefined;
  const traceId = header.split("/")[0];
  return /^[0-9a-f]{32}$/i.test(traceId) ? `projects/${project}/traces/${traceId}` : undefined;
}
