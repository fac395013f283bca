import { NonRetriableError } from "../../core/errors.ts";
import type { Cell, Family, GcRule, Mutation, WideRow } from "../ports.ts";

/**
 * Bigtable's rules shared by the embedded store and the Bigtable adapter: row-key byte order, garbage-collection
 * rules, and the validation of table, family and mutation input.
 *
 * GC: a cell is garbage when it is older than `maxAgeSeconds` or beyond the newest `maxVersions` of its column.
 * With both set, `union` collects a cell when either rule says so; `intersection` (the default, as in the Node
 * client) only when both do. Bigtable collects lazily, so a read may still see garbage until compaction; both
 * adapters therefore also filter on read, which makes the rules exact.
 */

/** UTF-8 byte order of two strings (code point order; JS `<` is UTF-16 order, which differs above U+FFFF). */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (U+D800..U+DFFF) encode code points above U+FFFF: they sort after U+E000..U+FFFF in UTF-8.
    if (x >= 0xd800 && x <= 0xdfff) x += 0x10000;
    if (y >= 0xd800 && y <= 0xdfff) y += 0x10000;
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

/** Keep the cells (newest first) of one column that `rule` does not collect at `nowMicros`. */
export function keepCells<C extends { timestamp: number }>(
  cells: C[],
  rule: GcRule | undefined,
  nowMicros: number,
): C[] {
  if (!rule || (rule.maxAgeSeconds === undefined && rule.maxVersions === undefined)) return cells;
  const cutoff = rule.maxAgeSeconds === undefined ? undefined : nowMicros - rule.maxAgeSeconds * 1_000_000;
  const union = rule.mode === "union";
  const kept: C[] = [];
  for (let i = 0; i < cells.length; i++) {
    const old = cutoff !== undefined && cells[i].timestamp < cutoff;
    const extra = rule.maxVersions !== undefined && i >= rule.maxVersions;
    let garbage: boolean;
    if (cutoff === undefined) garbage = extra;
    else if (rule.maxVersions === undefined) garbage = old;
    else garbage = union ? old || extra : old && extra;
    if (!garbage) kept.push(cells[i]);
  }
  return kept;
}

/** A row with the families' GC rules applied; undefined when no cell is left. */
export function collectRow(
  row: WideRow,
  rules: Map<string, GcRule | undefined>,
  nowMicros: number,
): WideRow | undefined {
  const families: WideRow["families"] = {};
  let any = false;
  for (const [family, columns] of Object.entries(row.families)) {
    const rule = rules.get(family);
    const out: Record<string, Cell[]> = {};
    let anyInFamily = false;
    for (const [qualifier, cells] of Object.entries(columns)) {
      const kept = keepCells(cells, rule, nowMicros);
      if (kept.length > 0) {
        out[qualifier] = kept;
        anyInFamily = true;
      }
    }
    if (anyInFamily) {
      families[family] = out;
      any = true;
    }
  }
  return any ? { key: row.key, families } : undefined;
}

/** A rule in canonical form: only the fields set, and `mode` only (defaulting to intersection) when both are. */
export function normaliseGc(gc: GcRule | undefined): GcRule | undefined {
  if (!gc) return undefined;
  const out: GcRule = {};
  if (gc.maxAgeSeconds !== undefined) out.maxAgeSeconds = gc.maxAgeSeconds;
  if (gc.maxVersions !== undefined) out.maxVersions = gc.maxVersions;
  if (out.maxAgeSeconds === undefined && out.maxVersions === undefined) return undefined;
  if (out.maxAgeSeconds !== undefined && out.maxVersions !== undefined) out.mode = gc.mode ?? "intersection";
  return out;
}

export function nowMicros(now: number = Date.now()): number {
  return Math.floor(now) * 1000;
}

const TABLE_ID = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,49}$/;
const FAMILY_ID = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

export function validateTableName(table: string): void {
  if (!TABLE_ID.test(table)) {
    throw new NonRetriableError(`table id ${JSON.stringify(table)} is invalid`, {
      field: "table",
      fix: "use 1-50 characters [A-Za-z0-9_.-] not starting with '-' or '.'",
    });
  }
}

export function validateFamilies(families: Family[]): void {
  const seen = new Set<string>();
  families.forEach((family, i) => {
    if (!FAMILY_ID.test(family.name)) {
      throw new NonRetriableError(`family name ${JSON.stringify(family.name)} is invalid`, {
        field: `families[${i}].name`,
        fix: "use 1-64 characters [A-Za-z0-9_.-] not starting with '-' or '.'",
      });
    }
    if (seen.has(family.name)) {
      throw new NonRetriableError(`family ${family.name} is listed twice`, { field: `families[${i}].name` });
    }
    seen.add(family.name);
    const gc = family.gc;
    if (!gc) return;
    if (gc.maxAgeSeconds !== undefined && !(Number.isInteger(gc.maxAgeSeconds) && gc.maxAgeSeconds > 0)) {
      throw new NonRetriableError("maxAgeSeconds must be a positive whole number of seconds", {
        field: `families[${i}].gc.maxAgeSeconds`,
      });
    }
    if (gc.maxVersions !== undefined && !(Number.isInteger(gc.maxVersions) && gc.maxVersions > 0)) {
      throw new NonRetriableError("maxVersions must be a positive integer", {
        field: `families[${i}].gc.maxVersions`,
      });
    }
  });
}

/** Check a batch against the table's families: keys, families, values and millisecond timestamps. */
export function validateMutations(mutations: Mutation[], families: Set<string>, table: string): void {
  mutations.forEach((mutation, i) => {
    if (
      typeof mutation.key !== "string" ||
      mutation.key.length === 0 ||
      Buffer.byteLength(mutation.key) > 4096
    ) {
      throw new NonRetriableError("row key must be 1..4096 bytes", {
        field: `mutations[${i}].key`,
        fix: "give every mutation a non-empty key",
      });
    }
    if (mutation.timestamp !== undefined) {
      if (
        !Number.isSafeInteger(mutation.timestamp) ||
        mutation.timestamp < 0 ||
        mutation.timestamp % 1000 !== 0
      ) {
        throw new NonRetriableError(
          `timestamp ${mutation.timestamp} is not whole milliseconds in microseconds (Bigtable's granularity)`,
          { field: `mutations[${i}].timestamp`, fix: "use Date.now() * 1000 or leave it out" },
        );
      }
    }
    let cells = 0;
    for (const [family, columns] of Object.entries(mutation.data ?? {})) {
      if (!families.has(family)) {
        throw new NonRetriableError(`table ${table} has no column family ${family}`, {
          field: `mutations[${i}].data.${family}`,
          fix: "add the family with ensureTable or fix the family name",
        });
      }
      for (const [qualifier, value] of Object.entries(columns)) {
        if (!Buffer.isBuffer(value) && typeof value !== "string") {
          throw new NonRetriableError("cell value must be a Buffer or a string", {
            field: `mutations[${i}].data.${family}.${qualifier}`,
          });
        }
        cells += 1;
      }
    }
    if (cells === 0) {
      throw new NonRetriableError("mutation sets no cell", {
        field: `mutations[${i}].data`,
        fix: "set at least one family.qualifier, or use deleteRows",
      });
    }
  });
}
