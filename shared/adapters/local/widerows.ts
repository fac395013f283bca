import {
  appendFileSync,
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import {
  type Cell,
  type Family,
  type GcRule,
  NotFoundError,
  type ScanOptions,
  type WideRow,
  type WideRowStore,
} from "../ports.ts";
import {
  compareKeys,
  keepCells,
  normaliseGc,
  nowMicros,
  validateFamilies,
  validateMutations,
  validateTableName,
} from "./widerow-rules.ts";

/**
 * The embedded wide-row store: Bigtable's data model in memory, persisted as one directory per table under
 * `dir`: `families.json` (written by rename) and `log.ndjson`, an append-only log of resolved mutations
 * (explicit timestamps) and row deletes. Every operation first replays what other processes appended since (a
 * `stat` when nothing changed), so the local twin's functions and jobs share tables across processes. Replaying
 * is idempotent: a cell is identified by (row, family, qualifier, timestamp).
 *
 * Rows live in a map plus a sorted key array (UTF-8 byte order) that scans bring up to date, so a bulk load
 * sorts its keys once. The log is never compacted: `deleteTable` is the way to reclaim space (fine for a local twin's sizes).
 */

export interface LocalWideRowsOptions {
  /** The state directory; one subdirectory per table. */
  dir: string;
  /** Clock in ms since the epoch, for default timestamps and max-age GC. Default Date.now. */
  now?: () => number;
}

/**
 * A row in memory, shaped for few allocations: one map from `family NUL qualifier` (family names cannot contain
 * NUL) to a flat array `[timestamp, base64, timestamp, base64, ...]`, newest first. Values stay base64, as in the
 * log, until a read returns them.
 */
type Column = (number | string)[];
type RowCells = Map<string, Column>;
const SEP = "\u0000";

/** `families.json`: a table's families and the id of this incarnation (a dropped and recreated table gets a new one). */
interface TableFile {
  incarnation: string;
  families: Family[];
}

interface TableState {
  incarnation: string;
  families: Family[];
  familyNames: Set<string>;
  rules: Map<string, Family["gc"]>;
  familiesStamp: string;
  /** Sorted row keys as of the last scan (see `index`). */
  keys: string[];
  /** Keys created since, unsorted. */
  pending: string[];
  /** Some keys in `keys` may have been deleted. */
  stale: boolean;
  rows: Map<string, RowCells>;
  logIno: number;
  offset: number;
}

/** One log line: `m` sets cells `[key, timestamp, [[family, qualifier, base64], ...]]`, `d` deletes rows. */
type LogEntry = { m: [string, number, [string, string, string][]][] } | { d: string[] };

export function createLocalWideRows(options: LocalWideRowsOptions): WideRowStore {
  const root = options.dir;
  const now = options.now ?? Date.now;
  const tables = new Map<string, TableState>();
  mkdirSync(root, { recursive: true });

  const tableDir = (table: string) => join(root, table);
  const familiesFile = (table: string) => join(tableDir(table), "families.json");
  const logFile = (table: string) => join(tableDir(table), "log.ndjson");

  const loadFamilies = (table: string, state: TableState | undefined): TableState | undefined => {
    let stamp: string;
    try {
      const st = statSync(familiesFile(table));
      stamp = `${st.ino}:${st.mtimeMs}:${st.size}`;
    } catch {
      tables.delete(table);
      return undefined;
    }
    if (state && state.familiesStamp === stamp) return state;
    const file = JSON.parse(readFileSync(familiesFile(table), "utf8")) as TableFile;
    const families = file.families;
    const fresh = !state || state.incarnation !== file.incarnation;
    const next: TableState =
      !state || fresh
        ? {
            incarnation: file.incarnation,
            families,
            familyNames: new Set(),
            rules: new Map(),
            familiesStamp: stamp,
            keys: [],
            pending: [],
            stale: false,
            rows: new Map(),
            logIno: -1,
            offset: 0,
          }
        : state;
    next.families = families;
    next.familyNames = new Set(families.map((f) => f.name));
    next.rules = new Map(families.map((f) => [f.name, f.gc]));
    next.familiesStamp = stamp;
    return next;
  };

  /** Bring the in-memory table up to date with its files; undefined when the table does not exist. */
  const sync = (table: string): TableState | undefined => {
    let state = loadFamilies(table, tables.get(table));
    if (!state) return undefined;
    let fd: number;
    try {
      fd = openSync(logFile(table), "r");
    } catch {
      tables.delete(table);
      return undefined;
    }
    try {
      const st = fstatSync(fd);
      if (st.ino !== state.logIno) {
        // A new table incarnation (deleted and created again): start over.
        const families = state.families;
        state = {
          ...state,
          families,
          keys: [],
          pending: [],
          stale: false,
          rows: new Map(),
          logIno: st.ino,
          offset: 0,
        };
      }
      if (st.size > state.offset) {
        const buf = Buffer.alloc(st.size - state.offset);
        let read = 0;
        while (read < buf.length) {
          const n = readSync(fd, buf, read, buf.length - read, state.offset + read);
          if (n === 0) break;
          read += n;
        }
        const end = buf.lastIndexOf(0x0a, read - 1);
        if (end >= 0) {
          const entries: LogEntry[] = [];
          for (const line of buf.subarray(0, end).toString("utf8").split("\n")) {
            if (line) entries.push(JSON.parse(line) as LogEntry);
          }
          applyEntries(state, entries, nowMicros(now()));
          state.offset += end + 1;
        }
      }
    } finally {
      closeSync(fd);
    }
    tables.set(table, state);
    return state;
  };

  const requireTable = (table: string): TableState => {
    validateTableName(table);
    const state = sync(table);
    if (!state) throw new NotFoundError(`table ${table}`);
    return state;
  };

  /** Append entries to the log and apply them; replays others' appends when they interleaved. */
  const append = (table: string, state: TableState, entries: LogEntry[]) => {
    const text = `${entries.map((e) => JSON.stringify(e)).join("\n")}\n`;
    const bytes = Buffer.from(text, "utf8");
    const before = state.offset;
    appendFileSync(logFile(table), bytes);
    const st = statSync(logFile(table));
    if (st.ino === state.logIno && st.size === before + bytes.length) {
      applyEntries(state, entries, nowMicros(now()));
      state.offset = st.size;
    } else {
      sync(table);
    }
  };

  return {
    async ensureTable(table, families) {
      validateTableName(table);
      validateFamilies(families);
      mkdirSync(tableDir(table), { recursive: true });
      const current = sync(table);
      const existing = current?.families ?? [];
      const merged = new Map(existing.map((f) => [f.name, f]));
      for (const family of families) {
        const gc = normaliseGc(family.gc);
        merged.set(family.name, gc ? { name: family.name, gc } : { name: family.name });
      }
      const next = [...merged.values()].sort((a, b) => compareKeys(a.name, b.name));
      if (JSON.stringify(next) !== JSON.stringify(existing) || !existsSync(familiesFile(table))) {
        const tmp = `${familiesFile(table)}.${process.pid}.tmp`;
        const file: TableFile = {
          incarnation:
            current?.incarnation ?? `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`,
          families: next,
        };
        writeFileSync(tmp, JSON.stringify(file));
        renameSync(tmp, familiesFile(table));
      }
      closeSync(openSync(logFile(table), "a"));
      sync(table);
    },

    async getFamilies(table) {
      return requireTable(table).families.map((f) => ({ ...f, gc: f.gc ? { ...f.gc } : undefined }));
    },

    async mutate(table, mutations) {
      if (mutations.length === 0) return;
      const state = requireTable(table);
      validateMutations(mutations, state.familyNames, table);
      const defaultTs = nowMicros(now());
      const m: [string, number, [string, string, string][]][] = mutations.map((mutation) => {
        const cells: [string, string, string][] = [];
        for (const [family, columns] of Object.entries(mutation.data)) {
          for (const [qualifier, value] of Object.entries(columns)) {
            const bytes = Buffer.isBuffer(value) ? value : Buffer.from(value, "utf8");
            cells.push([family, qualifier, bytes.toString("base64")]);
          }
        }
        return [mutation.key, mutation.timestamp ?? defaultTs, cells];
      });
      append(table, state, [{ m }]);
    },

    async readRow(table, key) {
      const state = requireTable(table);
      const cells = state.rows.get(key);
      return cells ? materialise(key, cells, state.rules, nowMicros(now())) : undefined;
    },

    scan(table, scanOptions: ScanOptions = {}) {
      return scanRows(requireTable(table), scanOptions, nowMicros(now()));
    },

    async deleteRows(table, keys) {
      if (keys.length === 0) return;
      append(table, requireTable(table), [{ d: [...keys] }]);
    },

    async deleteTable(table) {
      validateTableName(table);
      tables.delete(table);
      rmSync(tableDir(table), { recursive: true, force: true });
    },

    async close() {
      tables.clear();
    },
  };
}

async function* scanRows(state: TableState, options: ScanOptions, now: number): AsyncIterable<WideRow> {
  const keys = index(state);
  const prefix = options.prefix ?? "";
  const start =
    options.start !== undefined && compareKeys(options.start, prefix) > 0 ? options.start : prefix;
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  let i = lowerBound(keys, start);
  let yielded = 0;
  for (; i < keys.length && yielded < limit; i++) {
    const key = keys[i];
    if (!key.startsWith(prefix)) break;
    if (options.end !== undefined && compareKeys(key, options.end) >= 0) break;
    const cells = state.rows.get(key);
    if (!cells) continue;
    const row = materialise(key, cells, state.rules, now);
    if (!row) continue;
    yielded += 1;
    yield row;
  }
}

/**
 * The sorted key array, brought up to date: keys created since the last scan are sorted and merged in one pass,
 * and deleted keys are dropped. Writes only append to `pending`, so a bulk load sorts once, at the first scan.
 */
function index(state: TableState): string[] {
  if (state.stale) {
    state.keys = state.keys.filter((k) => state.rows.has(k));
    state.stale = false;
  }
  if (state.pending.length > 0) {
    const fresh = state.pending.filter((k) => state.rows.has(k)).sort(compareKeys);
    state.pending = [];
    state.keys = mergeSorted(state.keys, fresh);
  }
  return state.keys;
}

function applyEntries(state: TableState, entries: LogEntry[], now: number): void {
  for (const entry of entries) {
    if ("d" in entry) {
      for (const key of entry.d) if (state.rows.delete(key)) state.stale = true;
      continue;
    }
    for (const [key, timestamp, cells] of entry.m) {
      let row = state.rows.get(key);
      if (!row) {
        row = new Map();
        state.rows.set(key, row);
        state.pending.push(key);
      }
      for (const [family, qualifier, b64] of cells) {
        if (!state.familyNames.has(family)) continue;
        const column = `${family}${SEP}${qualifier}`;
        const existing = row.get(column);
        const inserted = existing ? insertCell(existing, timestamp, b64) : [timestamp, b64];
        const kept = gcColumn(inserted, state.rules.get(family), now);
        if (kept.length > 0) row.set(column, kept);
        else row.delete(column);
      }
      if (row.size === 0) {
        state.rows.delete(key);
        state.stale = true;
      }
    }
  }
}

/** Newest first; a cell with the same timestamp is replaced, as in Bigtable. */
function insertCell(column: Column, timestamp: number, b64: string): Column {
  const out = column.slice();
  let i = 0;
  while (i < out.length && (out[i] as number) > timestamp) i += 2;
  if (i < out.length && out[i] === timestamp) out[i + 1] = b64;
  else out.splice(i, 0, timestamp, b64);
  return out;
}

/** keepCells on a flat column. */
function gcColumn(column: Column, rule: GcRule | undefined, now: number): Column {
  if (!rule || column.length === 0) return column;
  const cells: { timestamp: number; i: number }[] = [];
  for (let i = 0; i < column.length; i += 2) cells.push({ timestamp: column[i] as number, i });
  const kept = keepCells(cells, rule, now);
  if (kept.length === cells.length) return column;
  return kept.flatMap((c) => [column[c.i], column[c.i + 1]]);
}

/** Merge two sorted arrays, keeping one of equal keys (a row deleted and written again may be in both). */
function mergeSorted(a: string[], b: string[]): string[] {
  if (b.length === 0) return a;
  if (a.length === 0) return dedupeSorted(b);
  const out: string[] = [];
  let i = 0;
  let j = 0;
  let last: string | undefined;
  while (i < a.length || j < b.length) {
    let next: string;
    if (j >= b.length || (i < a.length && compareKeys(a[i], b[j]) <= 0)) next = a[i++];
    else next = b[j++];
    if (next !== last) out.push(next);
    last = next;
  }
  return out;
}

function dedupeSorted(keys: string[]): string[] {
  return keys.filter((k, i) => i === 0 || keys[i - 1] !== k);
}

function lowerBound(keys: string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeys(keys[mid], key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A stored row as the port's WideRow with the GC rules applied (values decoded only for what is returned). */
function materialise(
  key: string,
  cells: RowCells,
  rules: TableState["rules"],
  now: number,
): WideRow | undefined {
  const families: WideRow["families"] = {};
  let any = false;
  for (const [column, flat] of cells) {
    const cut = column.indexOf(SEP);
    const family = column.slice(0, cut);
    const kept = gcColumn(flat, rules.get(family), now);
    if (kept.length === 0) continue;
    const list: Cell[] = [];
    for (let i = 0; i < kept.length; i += 2) {
      list.push({ timestamp: kept[i] as number, value: Buffer.from(kept[i + 1] as string, "base64") });
    }
    families[family] ??= {};
    families[family][column.slice(cut + 1)] = list;
    any = true;
  }
  return any ? { key, families } : undefined;
}
