import { describe, expect, it } from "vitest";
import {
  adstock,
  adstockGeometric,
  adstockWeibull,
  hillInflexion,
  quantileOfSeq,
  roundHalfEven,
  saturateHill,
  weibullWeights,
} from "../../containers/mmm/transform.ts";

describe("geometric adstock", () => {
  it("carries theta of the previous adstocked value", () => {
    expect(Array.from(adstockGeometric([100, 0, 0, 50], 0.5))).toEqual([100, 50, 25, 62.5]);
    expect(Array.from(adstockGeometric([1, 2, 3], 0))).toEqual([1, 2, 3]);
  });
});

describe("Weibull adstock", () => {
  it("uses R's type-7 quantile of 1..windlen rounded half to even for the scale", () => {
    expect(quantileOfSeq(208, 0.05)).toBeCloseTo(11.35, 12);
    expect(roundHalfEven(2.5)).toBe(2);
    expect(roundHalfEven(3.5)).toBe(4);
    expect(roundHalfEven(11.35)).toBe(11);
    // scale 0.5 on 4 rows: quantile 2.5 rounds to 2 (even), so the PDF peaks at lag index where (x/2) is largest
    const w = weibullWeights(2, 0.5, 4, "cdf");
    expect(w?.[1]).toBeCloseTo(Math.exp(-((1 / 2) ** 2)), 14);
  });

  it("PDF weights are the density min-max normalised; CDF weights are cumulative survival products", () => {
    const pdf = weibullWeights(2, 0.05, 208, "pdf") as Float64Array;
    expect(Math.max(...pdf)).toBe(1);
    expect(Math.min(...pdf)).toBe(0);
    // density of Weibull(k=2, λ=11) peaks at x = λ·sqrt(1/2) ≈ 7.8 → the 8th weight (index 7)
    expect(pdf.indexOf(1)).toBe(7);
    const cdf = weibullWeights(3, 0.1, 50, "cdf") as Float64Array;
    expect(cdf[0]).toBe(1);
    const lam = Math.round(1 + 0.1 * 49);
    expect(cdf[2]).toBeCloseTo(Math.exp(-((1 / lam) ** 3)) * Math.exp(-((2 / lam) ** 3)), 14);
    for (let i = 1; i < cdf.length; i++) expect(cdf[i]).toBeLessThanOrEqual(cdf[i - 1]);
  });

  it("convolves spend with the weights lagged by its position; immediate = spend × first weight", () => {
    const x = [10, 0, 5, 0, 0, 0];
    const w = weibullWeights(1.5, 0.3, x.length, "pdf") as Float64Array;
    const { decayed, immediate } = adstockWeibull(x, 1.5, 0.3, "pdf");
    for (let k = 0; k < x.length; k++) {
      let s = 0;
      for (let q = 0; q <= k; q++) s += x[q] * w[k - q];
      expect(decayed[k]).toBeCloseTo(s, 12);
      expect(immediate[k]).toBeCloseTo(x[k] * w[0], 12);
    }
  });

  it("shape or scale 0 means no adstock; CDF keeps the raw series as immediate", () => {
    expect(Array.from(adstockWeibull([1, 2, 3], 0, 0.5, "cdf").decayed)).toEqual([1, 2, 3]);
    expect(Array.from(adstockWeibull([1, 2, 3], 2, 0, "pdf").decayed)).toEqual([1, 2, 3]);
    const r = adstock([4, 0, 0], "weibull_cdf", { shape: 1, scale: 0.5 });
    expect(Array.from(r.immediate)).toEqual([4, 0, 0]);
    expect(r.decayed[1]).toBeGreaterThan(0);
  });
});

describe("Hill saturation", () => {
  it("takes the inflexion as gamma × the window's maximum and maps the inflexion to one half", () => {
    const x = [1000, 10, 20, 40, 5];
    const infl = hillInflexion(x, 0.5, 1, 4);
    expect(infl).toBe(20);
    const s = saturateHill(x, 2, infl, 1, 4);
    const want = [100 / 500, 0.5, 1600 / 2000];
    for (let i = 0; i < 3; i++) expect(s[i]).toBeCloseTo(want[i], 14);
  });
});
