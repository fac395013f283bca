import type { ObjectStore } from "../../shared/adapters/ports.ts";
import type { JobConfig } from "./jobconfig.ts";

/**
 * A training run's record and status as the steps write them (`mmm/runs/<runId>/run.json`, `<prefix>status.json`).
 * Kept apart from run.ts so that readers (the mmm API, the console's workbench) do not load the training steps
 * (Prophet baseline, date-holidays' data) with them.
 */

export type RunState = "QUEUED" | "RUNNING" | "SUCCEEDED" | "FAILED" | "SKIPPED";

export interface RunStatus {
  state: RunState;
  run_id: string;
  step?: string;
  progress?: number;
  message?: string;
  error?: string;
  skip_reason?: string;
  start_time?: string;
  end_time?: string;
  duration_minutes?: number;
  updated_at: string;
}

export interface RunRecord {
  runId: string;
  prefix: string;
  timestamp: string;
  config: JobConfig;
}

export const runRecordName = (runId: string) => `mmm/runs/${runId}/run.json`;

async function readJson<T>(store: ObjectStore, name: string): Promise<T> {
  return JSON.parse((await store.get(name)).toString("utf8")) as T;
}

export async function readRunRecord(store: ObjectStore, runId: string): Promise<RunRecord> {
  return readJson<RunRecord>(store, runRecordName(runId));
}

export async function readStatus(store: ObjectStore, prefix: string): Promise<RunStatus | undefined> {
  return (await store.exists(`${prefix}status.json`))
    ? readJson<RunStatus>(store, `${prefix}status.json`)
    : undefined;
}

/** Trials finished so far, for progress. */
export async function trialsDone(store: ObjectStore, prefix: string): Promise<number> {
  return (await store.list(`${prefix}candidates/trial_`)).length;
}
