import { describe, expect, it } from "vitest";
import { createLogger, humanSink, jsonSink, memorySink, traceFromHeader } from "../../shared/core/log.ts";

describe("structured logging", () => {
  it("writes Cloud Logging's JSON shape with labels and trace", () => {
    const lines: string[] = [];
    const log = createLogger({
      sink: jsonSink({ write: (s) => lines.push(s) }),
      trace: "projects/p/traces/abc",
    });
    log
      .child({ pipeline: "mozaic-daily", partition: "2024-06-15", runId: "r1" })
      .warn("slow", { seconds: 3 });
    const rec = JSON.parse(lines[0]);
    expect(rec.severity).toBe("WARNING");
    expect(rec.message).toBe("slow");
    expect(rec.seconds).toBe(3);
    expect(rec["logging.googleapis.com/labels"]).toEqual({
      pipeline: "mozaic-daily",
      partition: "2024-06-15",
      runId: "r1",
    });
    expect(rec["logging.googleapis.com/trace"]).toBe("projects/p/traces/abc");
    expect(new Date(rec.time).toISOString()).toBe(rec.time);
  });

  it("drops records below the minimum severity", () => {
    const sink = memorySink();
    const log = createLogger({ sink, minSeverity: "WARNING" });
    log.info("no");
    log.error("yes");
    expect(sink.records.map((r) => r.message)).toEqual(["yes"]);
  });

  it("prints a short line for a person", () => {
    const out: string[] = [];
    const log = createLogger({
      sink: humanSink({ write: (s) => out.push(s) }),
      labels: { pipeline: "taar-daily" },
    });
    log.info("wrote 3 files");
    expect(out[0]).toMatch(/^\d\d:\d\d:\d\d INFO {4}\[taar-daily\] wrote 3 files\n$/);
  });

  it("builds the trace name from X-Cloud-Trace-Context", () => {
    expect(traceFromHeader("0123456789abcdef0123456789abcdef/123;o=1", "p")).toBe(
      "projects/p/traces/0123456789abcdef0123456789abcdef",
    );
    expect(traceFromHeader("nonsense", "p")).toBeUndefined();
    expect(traceFromHeader(undefined, "p")).toBeUndefined();
  });
});
