import { describe, expect, it } from "vitest";
import { compareText, findSeries, regionIdsByLevel } from "../../containers/causemos/aggregate.ts";
import { REGION_LEVELS, type TextColumn } from "../../containers/causemos/frame.ts";
import { generate } from "../../containers/causemos/generator.ts";

describe("region ids by level", () => {
  it("give each series the sorted index of its level's id, by the direct split or the hash fallback", () => {
    const frame = generate({ points: 300, days: 2, seed: 9, fanOut: [3, 4, 5, 2] });
    // Some missing names: a null code joins as "" and groups apart from every named region.
    const admin2 = frame.regions.admin2 as TextColumn;
    for (let i = 0; i < frame.rows; i += 17) admin2.codes[i] = -1;
    const series = findSeries(frame);
    const levels = [...REGION_LEVELS];
    // Independently: the id of a series at a level is its own names down to that level joined by "__".
    const expected = levels.map((level, depth) => {
      const nameOf = (s: number) =>
        REGION_LEVELS.slice(0, depth + 1)
          .map((l) => {
            const col = frame.regions[l] as TextColumn;
            const code = col.codes[series.row[s]];
            return code < 0 ? "" : col.values[code];
          })
          .join("__");
      const names = Array.from({ length: series.count }, (_, s) => nameOf(s));
      const ids = [...new Set(names)].sort(compareText);
      return { level, ids, ofSeries: names.map((n) => ids.indexOf(n)) };
    });
    expect(expected[2].ids.some((id) => id.endsWith("__"))).toBe(true);
    for (const splitTable of [1 << 22, 0]) {
      const got = regionIdsByLevel(frame, series, levels, splitTable);
      expect(
        levels.map((level) => {
          const r = got.get(level);
          return { level, ids: r?.ids, ofSeries: Array.from(r?.ofSeries ?? []) };
        }),
      ).toEqual(expected);
    }
  });
});
