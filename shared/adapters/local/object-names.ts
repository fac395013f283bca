import { NonRetriableError } from "../../core/errors.ts";

/**
 * Object and bucket names, checked the same way by both object adapters so that a name that works locally
 * works on Cloud Storage and cannot escape the bucket's directory: no empty name, no leading `/`, no empty,
 * `.` or `..` segments, no NUL or other control characters, at most 1024 UTF-8 bytes (the GCS limit).
 * A prefix passed to `list` may be empty or end with `/`; otherwise it follows the same rules.
 */

const BUCKET = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this rejects
const CONTROL = /[\u0000-\u001f\u007f]/;

export function checkBucketName(bucket: string): string {
  if (!BUCKET.test(bucket) || bucket.includes("..")) {
    throw new NonRetriableError(`bucket name "${bucket}" is invalid`, {
      field: "bucket",
      fix: "use 3-222 characters of lowercase letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
    });
  }
  return bucket;
}

export function checkObjectName(name: string, bucket: string): string {
  const problem = objectNameProblem(name, false);
  if (problem) {
    throw new NonRetriableError(
      `object name "${printable(name)}" in bucket "${bucket}" is invalid: ${problem}`,
      {
        field: "object name",
        fix: "use a relative, '/'-separated name without '.', '..' or empty segments",
      },
    );
  }
  return name;
}

export function checkPrefix(prefix: string, bucket: string): string {
  const problem = prefix === "" ? undefined : objectNameProblem(prefix, true);
  if (problem) {
    throw new NonRetriableError(
      `list prefix "${printable(prefix)}" in bucket "${bucket}" is invalid: ${problem}`,
      {
        field: "prefix",
        fix: "use a relative, '/'-separated prefix without '.', '..' or empty segments",
      },
    );
  }
  return prefix;
}

function objectNameProblem(name: string, isPrefix: boolean): string | undefined {
  if (typeof name !== "string" || name.length === 0) return "it is empty";
  if (CONTROL.test(name)) return "it contains a NUL or control character";
  if (Buffer.byteLength(name, "utf8") > 1024) return "it is longer than 1024 bytes";
  if (name.startsWith("/")) return "it is an absolute path";
  if (name.includes("\\")) return "it contains a backslash";
  const segments = name.split("/");
  // A prefix may end with "/" (a folder); its last, empty segment is allowed, and so is a partial last segment.
  const checked = isPrefix && name.endsWith("/") ? segments.slice(0, -1) : segments;
  for (let i = 0; i < checked.length; i++) {
    const s = checked[i];
    const partialLast = isPrefix && i === checked.length - 1 && !name.endsWith("/");
    if (s === "") return "it has an empty segment";
    if (s === ".." || (s === "." && !partialLast)) return `it has a "${s}" segment`;
  }
  return undefined;
}

function printable(name: string): string {
  return String(name).replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
