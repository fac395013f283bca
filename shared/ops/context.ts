import type { MessageBus, ObjectStore, Workflows } from "../adapters/ports.ts";
import type { Logger } from "../core/log.ts";
import type { Ledger } from "../ledger/ledger.ts";
import type { PipelineDefinition, Registry } from "../pipelines/types.ts";

/**
 * What the operations (dispatch, backfill, runs, status, cancel) need, the same on GCP and on the local twin.
 * The functions build one from their config; the CLI and the local twin build one from theirs.
 */
export interface OpsContext {
  registry: Registry;
  ledger: Ledger;
  /** The state bucket: dispatch markers and rejected requests live here beside the ledger. */
  state: ObjectStore;
  workflows: Workflows;
  messages: MessageBus;
  log: Logger;
  now(): Date;
  /** The largest backfill accepted, unless a pipeline allows less. */
  maxPartitions?: number;
  /** How often the backfill driver polls a running child execution, seconds. */
  pollSeconds?: number;
  /** How long a half-finished start (a marker without an execution) is trusted before another delivery takes over. */
  takeoverSeconds?: number;
}

/** The deployed workflow id of a pipeline: its workflow file's name without `.workflows.yaml`. */
export function workflowIdOf(def: Pick<PipelineDefinition, "workflow">): string {
  return def.workflow.replace(/\.workflows\.yaml$/, "");
}

export const BACKFILL_WORKFLOW_ID = "backfill";
