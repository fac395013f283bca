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
  NotFoundError,
  type ScanOptions,
  type WideRow,
  type WideRowStore,
} from "../ports.ts";
import {
  collectRow,
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
 * Rows are kept in a sorted key array (UTF-8 byte order) plus a map; bulk writes merge their new keys in one
 * pass. The log is never compacted: `deleteTable` is the way to reclaim space (fine for a local twin's sizes).
 */

export interface LocalWideRowsOptions {
  /** The state directory; one subdirectory per table. */
  dir: string;
  /** Clock in ms since the epoch, for default timestamps and max-age GC. Default Date.now. */
  now?: () => number;
}

type Columns = Map<string, Cell[]>;
type RowCells = Map<string, Columns>;

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
  keys: string[];
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
      return cells ? collectRow(toWideRow(key, cells), state.rules, nowMicros(now())) : undefined;
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
  const keys = state.keys;
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
    const row = collectRow(toWideRow(key, cells), state.rules, now);
    if (!row) continue;
    yielded += 1;
    yield row;
  }
}

function applyEntries(state: TableState, entries: LogEntry[], now: number): void {
  const added: string[] = [];
  // Keys removed from the map in this batch are still in state.keys until the final filter.
  const removed = new Set<string>();
  let deleted = false;
  for (const entry of entries) {
    if ("d" in entry) {
      for (const key of entry.d) {
        if (state.rows.delete(key)) {
          deleted = true;
          removed.add(key);
        }
      }
      continue;
    }
    for (const [key, timestamp, cells] of entry.m) {
      let row = state.rows.get(key);
      if (!row) {
        row = new Map();
        state.rows.set(key, row);
        if (!removed.has(key)) added.push(key);
      }
      for (const [family, qualifier, base64] of cells) {
        if (!state.familyNames.has(family)) continue;
        let columns = row.get(family);
        if (!columns) {
          columns = new Map();
          row.set(family, columns);
        }
        const kept = keepCells(
          insertCell(columns.get(qualifier) ?? [], { value: Buffer.from(base64, "base64"), timestamp }),
          state.rules.get(family),
          now,
        );
        if (kept.length > 0) columns.set(qualifier, kept);
        else columns.delete(qualifier);
        if (columns.size === 0) row.delete(family);
      }
      if (row.size === 0) {
        state.rows.delete(key);
        deleted = true;
        removed.add(key);
      }
    }
  }
  if (added.length > 0) {
    const fresh = [...new Set(added)].filter((k) => state.rows.has(k)).sort(compareKeys);
    state.keys = mergeSorted(state.keys, fresh);
  }
  if (deleted) state.keys = state.keys.filter((k) => state.rows.has(k));
}

/** Newest first; a cell with the same timestamp is replaced, as in Bigtable. */
function insertCell(cells: Cell[], cell: Cell): Cell[] {
  const out = cells.slice();
  let i = 0;
  while (i < out.length && out[i].timestamp > cell.timestamp) i++;
  if (i < out.length && out[i].timestamp === cell.timestamp) out[i] = cell;
  else out.splice(i, 0, cell);
  return out;
}

function mergeSorted(a: string[], b: string[]): string[] {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const out: string[] = new Array(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length && j < b.length) out[k++] = compareKeys(a[i], b[j]) <= 0 ? a[i++] : b[j++];
  while (i < a.length) out[k++] = a[i++];
  while (j < b.length) out[k++] = b[j++];
  return out;
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

function toWideRow(key: string, cells: RowCells): WideRow {
  const families: WideRow["families"] = {};
  for (const [family, columns] of cells) {
    const out: Record<string, Cell[]> = {};
    for (const [qualifier, list] of columns) out[qualifier] = list.slice();
    families[family] = out;
  }
  return { key, families };
}
