import { describe, expect, it } from "vitest";
import {
  ConfigError,
  EXIT_NON_RETRIABLE,
  EXIT_RETRYABLE,
  exitCode,
  httpStatus,
  NonRetriableError,
  pubsubOutcome,
  RetryableError,
  reasonOf,
} from "../../shared/core/errors.ts";

describe("error retry meaning", () => {
  const cases: { name: string; err: unknown; pubsub: "ack" | "nack"; http: number; exit: number }[] = [
    {
      name: "non-retriable",
      err: new NonRetriableError("bad"),
      pubsub: "ack",
      http: 400,
      exit: EXIT_NON_RETRIABLE,
    },
    {
      name: "config",
      err: new ConfigError("PORT", "bad"),
      pubsub: "ack",
      http: 500,
      exit: EXIT_NON_RETRIABLE,
    },
    {
      name: "retryable",
      err: new RetryableError("busy", { retryAfter: 5 }),
      pubsub: "nack",
      http: 503,
      exit: EXIT_RETRYABLE,
    },
    { name: "crash", err: new TypeError("x is undefined"), pubsub: "nack", http: 500, exit: EXIT_RETRYABLE },
    { name: "thrown string", err: "boom", pubsub: "nack", http: 500, exit: EXIT_RETRYABLE },
  ];
  for (const c of cases) {
    it(`maps ${c.name}`, () => {
      expect(pubsubOutcome(c.err)).toBe(c.pubsub);
      expect(httpStatus(c.err)).toBe(c.http);
      expect(exitCode(c.err)).toBe(c.exit);
    });
  }

  it("normalises retry-after to seconds", () => {
    expect(new RetryableError("x", { retryAfter: 7 }).retryAfterSeconds).toBe(7);
    expect(new RetryableError("x", { retryAfter: "12" }).retryAfterSeconds).toBe(12);
    const at = new Date(Date.now() + 30_000);
    const s = new RetryableError("x", { retryAfter: at }).retryAfterSeconds!;
    expect(s).toBeGreaterThanOrEqual(29);
    expect(s).toBeLessThanOrEqual(31);
    expect(() => new RetryableError("x", { retryAfter: "soon" })).toThrow(/retryAfter/);
    expect(() => new RetryableError("x", { retryAfter: -1 })).toThrow(/retryAfter/);
  });

  it("states the field and the fix in a reason", () => {
    const r = reasonOf(new NonRetriableError("must be a date", { field: "to", fix: "use YYYY-MM-DD" }));
    expect(r).toBe("must be a date (field: to) Fix: use YYYY-MM-DD");
    expect(reasonOf(new Error("plain"))).toBe("plain");
    expect(reasonOf({ code: 1 })).toBe('{"code":1}');
  });
});
