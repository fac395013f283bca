import { NonRetriableError } from "../../shared/core/errors.ts";

/** The two aggregate types; each has one table per (channel, version, day) in the source database. */
export const AGGREGATE_TYPES = ["submission_date", "build_id"] as const;
export type AggregateType = (typeof AGGREGATE_TYPES)[number];

export interface TableName {
  type: AggregateType;
  channel: string;
  version: string;
  dsNodash: string;
}

const TABLE = /^(submission_date|build_id)_([A-Za-z0-9-]+)_([A-Za-z0-9.-]+)_(\d{8})$/;

/**
 * Split `<type>_<channel>_<version>_<YYYYMMDD>`. The original took `split("_")[2]` and `[3]`, which works
 * because both type names hold exactly one underscore; this parses the same fields and rejects anything else.
 */
export function parseTableName(name: string, where = "table"): TableName {
  const m = TABLE.exec(name);
  if (!m) {
    throw new NonRetriableError(
      `${where}: "${name}" is not an aggregate table name <submission_date|build_id>_<channel>_<version>_<YYYYMMDD>`,
      { field: "table", fix: "dump only mozaggregator tables (pg_dump --table '<type>_*_<ds>*')" },
    );
  }
  return { type: m[1] as AggregateType, channel: m[2], version: m[3], dsNodash: m[4] };
}

export function parseAggregateType(value: string, field = "aggregateType"): AggregateType {
  if ((AGGREGATE_TYPES as readonly string[]).includes(value)) return value as AggregateType;
  throw new NonRetriableError(`${field} must be one of ${AGGREGATE_TYPES.join(", ")}, got "${value}"`, {
    field,
  });
}

/** `2019-12-01` -> `20191201`. */
export function nodash(ds: string): string {
  return ds.replaceAll("-", "");
}
