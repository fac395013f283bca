import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, waitForPort } from "./free-port.ts";

/**
 * Start one of the Go fakes built by `bash test/emulators/build.sh` (`pstestd`: Pub/Sub, `bttestd`: Bigtable) on a
 * free 127.0.0.1 port. `stop()` sends SIGTERM to its PID, SIGKILL after 3 s.
 */

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export interface GoFake {
  name: string;
  /** `127.0.0.1:PORT`, for PUBSUB_EMULATOR_HOST / BIGTABLE_EMULATOR_HOST. */
  addr: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startGoFake(name: "pstestd" | "bttestd"): Promise<GoFake> {
  const path = join(repo, ".bin", name);
  if (!existsSync(path)) {
    throw new Error(
      `${path} is missing: the Go fakes are not built. Run \`bash test/emulators/build.sh\` ` +
        "(needs apt packages golang-go and golang-google-cloud-dev).",
    );
  }
  const port = await freePort();
  const addr = `127.0.0.1:${port}`;
  const child = spawn(path, ["-addr", addr], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return resolve();
      const pid = child.pid;
      const force = setTimeout(() => process.kill(pid, "SIGKILL"), 3000);
      child.once("exit", () => {
        clearTimeout(force);
        resolve();
      });
      process.kill(pid, "SIGTERM");
    });
  const exited = new Promise<never>((_, reject) =>
    child.once("exit", (code) =>
      reject(new Error(`${name} exited with ${code} before listening: ${stderr}`)),
    ),
  );
  exited.catch(() => {});
  try {
    await Promise.race([waitForPort(port), exited]);
  } catch (err) {
    await stop();
    throw err;
  }
  return { name, addr, pid: child.pid as number, stop };
}
