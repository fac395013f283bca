import { readFileSync } from "node:fs";
import type { Logger } from "../../shared/core/log.ts";
import { teamData } from "../helpers/team-data.ts";

export const DATA = teamData("prophet");

export function days(n: number, start = "2018-01-01", step = 1): string[] {
  const t0 = Date.parse(`${start}T00:00:00Z`);
  return Array.from({ length: n }, (_, i) => new Date(t0 + i * step * 86_400_000).toISOString().slice(0, 10));
}

export function peyton(): { ds: string[]; y: number[] } {
  const rows = readFileSync(`${DATA}/example_wp_log_peyton_manning.csv`, "utf8").trim().split("\n").slice(1);
  const ds: string[] = [];
  const y: number[] = [];
  for (const line of rows) {
    const [d, v] = line.replaceAll('"', "").split(",");
    ds.push(d);
    y.push(Number(v));
  }
  return { ds, y };
}

/** A logger that keeps its records. */
export function memoryLogger(): Logger & {
  records: { severity: string; message: string; fields?: Record<string, unknown> }[];
} {
  const records: { severity: string; message: string; fields?: Record<string, unknown> }[] = [];
  const make = (): Logger => ({
    labels: {},
    debug: (message, fields) => records.push({ severity: "DEBUG", message, fields }),
    info: (message, fields) => records.push({ severity: "INFO", message, fields }),
    notice: (message, fields) => records.push({ severity: "NOTICE", message, fields }),
    warn: (message, fields) => records.push({ severity: "WARNING", message, fields }),
    error: (message, fields) => records.push({ severity: "ERROR", message, fields }),
    child: () => make(),
  });
  return Object.assign(make(), { records });
}

/** Deterministic standard normals (Box-Muller on an LCG) for building synthetic series. */
export function noise(seed: number): () => number {
  let s = seed >>> 0;
  const u = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}
