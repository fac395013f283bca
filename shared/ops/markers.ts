import { AlreadyExistsError, type ObjectStore } from "../adapters/ports.ts";
import { RetryableError } from "../core/errors.ts";

/**
 * Start-once markers for at-least-once deliveries. Before starting an execution for a message, write a
 * create-only marker named after the message; the delivery that wins starts the execution and records its
 * name in the marker. A redelivery finds the marker: if it names an execution, nothing new starts; if it does
 * not (the first delivery died between marker and start), the redelivery waits `takeoverSeconds`, then takes
 * over. The run ledger's claim is the second line of defence against a duplicate start.
 */
export interface Marker {
  state: "starting" | "started";
  at: string;
  execution?: string;
  [key: string]: unknown;
}

export type MarkerDecision = { start: true } | { start: false; marker: Marker };

export async function claimMarker(
  store: ObjectStore,
  name: string,
  now: Date,
  takeoverSeconds: number,
  extra: Record<string, unknown> = {},
): Promise<MarkerDecision> {
  const marker: Marker = { state: "starting", at: now.toISOString(), ...extra };
  try {
    await store.put(name, JSON.stringify(marker), { ifNotExists: true, contentType: "application/json" });
    return { start: true };
  } catch (err) {
    if (!(err instanceof AlreadyExistsError)) throw err;
  }
  const existing = JSON.parse((await store.get(name)).toString("utf8")) as Marker;
  if (existing.state === "started") return { start: false, marker: existing };
  const age = (now.getTime() - Date.parse(existing.at)) / 1000;
  if (age < takeoverSeconds) {
    throw new RetryableError(`another delivery is starting this (${name}, ${Math.round(age)} s ago)`, {
      retryAfter: Math.ceil(takeoverSeconds - age),
    });
  }
  return { start: true };
}

export async function recordStarted(
  store: ObjectStore,
  name: string,
  now: Date,
  execution: string,
  extra: Record<string, unknown> = {},
): Promise<void> {
  const marker: Marker = { state: "started", at: now.toISOString(), execution, ...extra };
  await store.put(name, JSON.stringify(marker), { contentType: "application/json" });
}
