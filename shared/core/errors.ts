/**
 * Errors carry their retry meaning in their type, never in their message.
 *
 * - {@link NonRetriableError}: bad input or an impossible request. Retrying cannot help: the message is
 *   acknowledged (and dead-lettered with its reason), HTTP answers 4xx, a job exits with {@link EXIT_NON_RETRIABLE}.
 * - {@link RetryableError}: a transient fault (quota, upstream busy, a lost connection). The message is nacked so
 *   Pub/Sub redelivers it, HTTP answers 503 (with `Retry-After` when known), a job exits with {@link EXIT_RETRYABLE}.
 * - Anything else is an unexpected crash and is treated as retryable, so that Pub/Sub's dead-letter policy
 *   (not an infinite loop) is the final word.
 */

export interface ErrorDetails {
  /** The input field at fault, as a dotted path (`params.forecastStartDate`). */
  field?: string;
  /** What the user should do about it. */
  fix?: string;
  cause?: unknown;
}

export class NonRetriableError extends Error {
  readonly field?: string;
  readonly fix?: string;
  constructor(message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "NonRetriableError";
    this.field = details.field;
    this.fix = details.fix;
  }
}

export class RetryableError extends Error {
  /** Seconds to wait before retrying, when the fault says so. */
  readonly retryAfterSeconds?: number;
  constructor(message: string, options: { retryAfter?: number | string | Date; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "RetryableError";
    this.retryAfterSeconds = options.retryAfter === undefined ? undefined : toSeconds(options.retryAfter);
  }
}

/** A process was started with a missing or invalid setting. Raised at start, never mid-run. */
export class ConfigError extends NonRetriableError {
  readonly variable: string;
  constructor(variable: string, message: string) {
    super(`${variable}: ${message}`, { field: variable });
    this.name = "ConfigError";
    this.variable = variable;
  }
}

function toSeconds(value: number | string | Date): number {
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value < 0)
      throw new TypeError(`retryAfter must be >= 0 seconds, got ${value}`);
    return value;
  }
  if (typeof value === "string" && /^\d+(\.\d+)?$/.test(value.trim())) return Number(value);
  const at = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(at.getTime())) {
    throw new TypeError(`retryAfter must be seconds, an RFC 3339 time or a Date, got ${String(value)}`);
  }
  return Math.max(0, Math.ceil((at.getTime() - Date.now()) / 1000));
}

export function isNonRetriable(err: unknown): err is NonRetriableError {
  return err instanceof NonRetriableError;
}

/** What a Pub/Sub push handler answers: `ack` drops the message for good, `nack` asks for redelivery. */
export function pubsubOutcome(err: unknown): "ack" | "nack" {
  return isNonRetriable(err) ? "ack" : "nack";
}

/** HTTP status for an error escaping a function handler. */
export function httpStatus(err: unknown): number {
  if (err instanceof ConfigError) return 500;
  if (isNonRetriable(err)) return 400;
  if (err instanceof RetryableError) return 503;
  return 500;
}

export const EXIT_OK = 0;
/** Retryable failure: Cloud Run's task retry (maxRetries) or the workflow's retry policy may try again. */
export const EXIT_RETRYABLE = 1;
/** Bad input: retrying the same task cannot succeed. */
export const EXIT_NON_RETRIABLE = 3;

export function exitCode(err: unknown): number {
  return isNonRetriable(err) ? EXIT_NON_RETRIABLE : EXIT_RETRYABLE;
}

/** A one-line reason for a ledger entry, a dead letter or a failed run: the message, the field and the fix. */
export function reasonOf(err: unknown): string {
  if (err instanceof Error) {
    const parts = [err.message];
    if (err instanceof NonRetriableError) {
      if (err.field && !err.message.includes(err.field)) parts.push(`(field: ${err.field})`);
      if (err.fix) parts.push(`Fix: ${err.fix}`);
    }
    return parts.join(" ");
  }
  return typeof err === "string" ? err : JSON.stringify(err);
}
