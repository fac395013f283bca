import { z } from "zod";
import { NonRetriableError } from "../../core/errors.ts";

/**
 * v1 message contracts. Every message that enters Tessera (a schedule tick, a run request, a backfill
 * request, a run event, a job's arguments) is parsed by one of these; a message that fails becomes a
 * NonRetriableError naming the field, which the function host dead-letters with that reason.
 * A breaking change is a new folder (v2/), not an edit here.
 *
 * The message schemas are built on first use (`z.lazy`, which builds once): a function's cold start builds only
 * the one its first message needs (~8 ms of CPU less than building all of them). `JobArgsBase` stays an object
 * schema, since each job extends it.
 */

const pipelineId = z
  .string()
  .regex(/^[a-z][a-z0-9-]{1,38}[a-z0-9]$/, "must be a registered pipeline id such as mozaic-daily");
const params = z.record(z.string(), z.unknown()).default({});
/** Workflows has no `undefined`: an empty string (or null) stands for "no backfill". */
const optionalBackfillId = z
  .string()
  .nullish()
  .transform((v) => v || undefined);

/** Published by Cloud Scheduler on the schedule-ticks topic; the `dispatch` function turns it into a run. */
export const ScheduleTick = z.lazy(() =>
  z.strictObject({
    pipeline: pipelineId,
    /** Omitted on scheduled ticks: the pipeline's date logic picks the partition. */
    partition: z.string().min(1).optional(),
    /** Which of the pipeline's schedules fired, when it has several. */
    schedule: z.string().optional(),
    params,
  }),
);
export type ScheduleTick = z.infer<typeof ScheduleTick>;

/** A request to run one partition; also the argument of every pipeline workflow (`main`'s one parameter). */
export const RunRequest = z.lazy(() =>
  z.strictObject({
    pipeline: pipelineId,
    partition: z.string().min(1),
    params,
    runId: z.string().optional(),
    /** Rerun even when the ledger says the partition is running or done. */
    force: z.boolean().default(false),
    backfillId: z.string().optional(),
  }),
);
export type RunRequest = z.infer<typeof RunRequest>;

/** The argument every pipeline workflow receives, from dispatch, the backfill driver or `gcloud workflows execute`. */
export const WorkflowArgs = z.lazy(() =>
  z.strictObject({
    partition: z.string().min(1),
    params,
    runId: z.string().optional(),
    force: z.boolean().default(false),
    backfillId: optionalBackfillId,
  }),
);
export type WorkflowArgs = z.infer<typeof WorkflowArgs>;

const isoDay = z
  .string()
  .regex(/^\d{4}-\d{2}(-\d{2})?$/, "must be YYYY-MM-DD (or YYYY-MM for monthly pipelines)");

/** Backfill request v1, as published on the backfill-requests topic or built by `tessera backfill`. */
export const BackfillRequest = z.lazy(() =>
  z.strictObject({
    pipeline: pipelineId,
    from: isoDay.optional(),
    to: isoDay.optional(),
    /** Explicit partitions instead of (or in addition to) a range. */
    dates: z.array(z.string().min(1)).max(100_000).optional(),
    weekdays: z.array(z.string()).max(7).optional(),
    reprocess: z.enum(["missing", "failed", "all"]).default("missing"),
    maxConcurrent: z.number().int().min(1).max(100).default(4),
    order: z.enum(["asc", "desc"]).default("asc"),
    dryRun: z.boolean().default(false),
    params,
    /** Idempotency key: the same requestId twice yields one backfill. */
    requestId: z.string().min(1).max(200),
  }),
);
export type BackfillRequest = z.infer<typeof BackfillRequest>;

export const RunEvent = z.lazy(() =>
  z.strictObject({
    type: z.enum(["run.started", "run.succeeded", "run.failed", "run.cancelled", "run.skipped"]),
    pipeline: pipelineId,
    partition: z.string(),
    runId: z.string(),
    attempt: z.number().int().min(1).optional(),
    backfillId: z.string().optional(),
    at: z.string(),
    reason: z.string().optional(),
  }),
);
export type RunEvent = z.infer<typeof RunEvent>;

/** The arguments every job entrypoint receives (as env `TESSERA_JOB_ARGS` JSON or `--args`), extended per job. */
export const JobArgsBase = z.object({
  pipeline: pipelineId,
  partition: z.string().min(1),
  runId: z.string().min(1),
  params,
});
export type JobArgsBase = z.infer<typeof JobArgsBase>;

/**
 * Parse `value` with `schema`, or throw a NonRetriableError whose message names every bad field:
 * `backfill request: maxConcurrent: Too big: expected number to be <=100`.
 */
export function parseContract<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues;
  const first = issues[0];
  const field = first && first.path.length > 0 ? first.path.join(".") : undefined;
  const text = issues
    .slice(0, 5)
    .map((i) => `${i.path.length > 0 ? i.path.join(".") : "(message)"}: ${i.message}`)
    .join("; ");
  throw new NonRetriableError(`${what}: ${text}`, {
    field,
    fix: `send a ${what} that matches the v1 schema (see README, "Messages")`,
  });
}

/** Decode JSON text (a Pub/Sub message body) or throw a NonRetriableError that says it is not JSON. */
export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new NonRetriableError(`${what}: body is not valid JSON (${(err as Error).message})`, {
      field: "data",
      fix: "publish a UTF-8 JSON object",
    });
  }
}

/** A pipeline workflow's first call to the `runs` function: claim `(pipeline, partition)` in the run ledger. */
export const RunClaim = z.lazy(() =>
  z.strictObject({
    pipeline: pipelineId,
    partition: z.string().min(1),
    runId: z.string().optional(),
    force: z.boolean().default(false),
    backfillId: optionalBackfillId,
    params,
    /** The calling Workflows execution, so `tessera cancel --run` can stop it. */
    execution: z.string().optional(),
  }),
);
export type RunClaim = z.infer<typeof RunClaim>;

/** A pipeline workflow's last call to the `runs` function: the attempt's end. */
export const RunFinish = z.lazy(() =>
  z.strictObject({
    pipeline: pipelineId,
    partition: z.string().min(1),
    attempt: z.number().int().min(1),
    state: z.enum(["succeeded", "failed", "cancelled"]),
    reason: z.unknown().optional(),
    backfillId: optionalBackfillId,
  }),
);
export type RunFinish = z.infer<typeof RunFinish>;
