/** The run parameters of taar-daily and taar-weekly (the registry's `params` schema; jobs parse TAAR_PARAMS with it). */
import { z } from "zod";

/**
 * Built on first use (`z.lazy`): every deployed function bundle holds the registry, and most never parse these
 * params, so a cold start does not build the schema.
 */
const buildTaarParams = () =>
  z.strictObject({
    /** AMO base URL (default https://addons.mozilla.org; env TAAR_AMO_URL; locally an in-process stub when unset). */
    amoUrl: z.url().optional(),
    /** Concurrent AMO requests. */
    concurrency: z.number().int().min(1).max(200).optional(),
    /** Retries per AMO request (exponential backoff). */
    retries: z.number().int().min(0).max(10).optional(),
    /** Share of AMO requests that may still fail after retries before the dump fails. */
    maxFailureRate: z.number().min(0).max(1).optional(),
    minRating: z.number().min(0).max(5).optional(),
    minAgeDays: z.number().int().min(0).optional(),
    validateGuids: z.boolean().optional(),
    allowShortlist: z.boolean().optional(),
    /** Seed of every random choice (sampling, clustering, noise). */
    seed: z.number().int().min(0).optional(),
    numClusters: z.number().int().min(2).max(200).optional(),
    numDonors: z.number().int().min(100).optional(),
    epsilon: z.number().positive().optional(),
    liteSampleRate: z.number().gt(0).max(1).optional(),
    /** Share of clients_last_seen loaded into Bigtable (the weekly DAG ran with 1.0). */
    sampleRate: z.number().gt(0).max(1).optional(),
    deleteOptOutDays: z.number().int().min(1).max(365).optional(),
    /**
     * How long telemetry-ready waits for the day's telemetry before failing (default 7200 s; the job's timeout is
     * 7500 s, so the bound is this step's, not Cloud Run's). 0 checks once.
     */
    telemetryWaitSeconds: z.number().int().min(0).max(7200).optional(),
    /** Seconds between telemetry-ready's checks (default 120). */
    telemetryPollSeconds: z.number().int().min(1).max(3600).optional(),
  });
let built: ReturnType<typeof buildTaarParams> | undefined;
export const TaarParams = z.lazy(() => (built ??= buildTaarParams()));
export type TaarParams = z.infer<typeof TaarParams>;
