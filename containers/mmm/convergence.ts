import type { Candidate } from "./search.ts";

/**
 * Robyn's convergence report (`robyn_converge`, n_cuts = 20, sd_qtref = 3, med_lowb = 2): per objective, the
 * iterations (pooled over trials) are cut into 20 equal bins; the objective is converged when the last bin's SD is
 * below the mean SD of the first 3 bins and the last bin's |median| is below |first median − 2 × that mean SD|.
 */
export interface ObjectiveConvergence {
  objective: "nrmse" | "decomp.rssd" | "mape";
  converged: boolean;
  medians: number[];
  sds: number[];
  message: string;
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function sd(v: number[]): number {
  if (v.length < 2) return 0;
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1));
}

export function convergence(
  cands: Candidate[],
  batch = 1,
  nCuts = 20,
  sdQtref = 3,
  medLowb = 2,
): ObjectiveConvergence[] {
  const iter = (c: Candidate) => (c.iterNG - 1) * batch + c.iterPar;
  const maxIter = Math.max(...cands.map(iter));
  const objectives: ObjectiveConvergence["objective"][] = ["nrmse", "decomp.rssd"];
  if (cands.some((c) => Number.isFinite(c.mape))) objectives.push("mape");
  return objectives.map((objective) => {
    const val = (c: Candidate) =>
      objective === "nrmse" ? c.nrmse : objective === "decomp.rssd" ? c.decompRssd : c.mape;
    const bins: number[][] = Array.from({ length: nCuts }, () => []);
    for (const c of cands) {
      const v = val(c);
      if (!Number.isFinite(v)) continue;
      const b = Math.min(nCuts - 1, Math.max(0, Math.ceil((iter(c) / maxIter) * nCuts) - 1));
      bins[b].push(v);
    }
    const used = bins.filter((b) => b.length > 0);
    const medians = used.map(median);
    const sds = used.map(sd);
    const firstSd = sds.slice(0, sdQtref).reduce((a, b) => a + b, 0) / Math.min(sdQtref, sds.length);
    const lastSd = sds[sds.length - 1];
    const lastMed = medians[medians.length - 1];
    const bound = Math.abs(medians[0] - medLowb * firstSd);
    const sdOk = lastSd < firstSd;
    const medOk = Math.abs(lastMed) < bound;
    const converged = sdOk && medOk;
    const message = `${objective} ${converged ? "converged" : "NOT converged"}: sd@last ${lastSd.toPrecision(3)} ${sdOk ? "<=" : ">"} ${firstSd.toPrecision(3)} mean sd@first ${sdQtref}; |median@last| ${Math.abs(lastMed).toPrecision(3)} ${medOk ? "<=" : ">"} ${bound.toPrecision(3)}`;
    return { objective, converged, medians, sds, message };
  });
}
