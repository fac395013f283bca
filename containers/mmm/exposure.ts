/**
 * Robyn's exposure handling (`inputs.R: exposure_handling`): a channel modelled on an exposure metric (impressions,
 * clicks) is rescaled into spend units by the window's cost per exposure, `cpe = Σ spend_window / Σ exposure_window`,
 * and the modelled column is `exposure × cpe` over the whole series.
 */
export function exposureInSpendUnits(
  exposure: ArrayLike<number>,
  spend: ArrayLike<number>,
  from: number,
  to: number,
): Float64Array {
  let s = 0;
  let e = 0;
  for (let i = from; i < to; i++) {
    s += spend[i];
    e += exposure[i];
  }
  if (!(e > 0)) throw new RangeError("the exposure metric sums to 0 inside the window");
  const cpe = s / e;
  return Float64Array.from(exposure, (v) => v * cpe);
}
