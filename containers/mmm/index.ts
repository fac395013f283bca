/**
 * The Robyn-method MMM library. Typical use:
 *   const frame = parseFrameCsv(text);                       // a prepared model frame (Robyn dt_mod)
 *   const prep = prepareModel(frame, spec);                  // roles, window, limits, lambda range, spend shares
 *   const fit = evaluateModel(prep, hyperparameters);        // one model: coefs, NRMSE, DECOMP.RSSD, R², decomposition
 *   const run = await search(frame, spec, { iterations, trials, seed, ranges, fixed });
 *   const { models } = selectPareto(run.candidates, { fronts: "auto" });
 *   const details = modelDetails(prep, models[0].hyp);       // ROAS/CPA, decomposition, channels for response curves
 *   const plan = allocateBudget({ channels: details.channels, budget });
 */
export { convergence, type ObjectiveConvergence } from "./convergence.ts";
export { exposureInSpendUnits } from "./exposure.ts";
export { closestRow, type ModelFrame, parseFrameCsv } from "./frame.ts";
export {
  type EvaluateOptions,
  evaluateModel,
  hyperNames,
  type LiftStudy,
  lambdaRange,
  liftMape,
  type ModelResult,
  type ModelSpec,
  type PreparedModel,
  prepareModel,
  type Sign,
  splitRows,
} from "./model.ts";
export { buildModelFrame, type FrameRoles, windowSpendTotals } from "./modelframe.ts";
export {
  errorScores,
  type ParetoModel,
  type ParetoOptions,
  paretoFronts,
  quantile,
  selectPareto,
} from "./pareto.ts";
export {
  type Allocation,
  allocateBudget,
  type ChannelSummary,
  type ModelDetails,
  marginalResponse,
  modelDetails,
  responseCurve,
} from "./response.ts";
export { fitRidge, type RidgeFit, type RidgeInput, solveBoxQp } from "./ridge.ts";
export { createRng, type Rng } from "./rng.ts";
export {
  type Candidate,
  completeRanges,
  frontLoss,
  runTrial,
  type SearchOptions,
  type SearchResult,
  search,
} from "./search.ts";
export { type ModelSpecJson, modelSpecSchema, parseModelSpec } from "./spec.ts";
export {
  type AdstockType,
  adstock,
  adstockGeometric,
  adstockWeibull,
  hill,
  hillInflexion,
  saturateHill,
  weibullWeights,
} from "./transform.ts";
