import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, waitForPort } from "./helpers/free-port.ts";

/**
 * vitest globalSetup: starts the Pub/Sub fake (pstestd) and the Bigtable fake (bttestd) on free 127.0.0.1
 * ports and sets the env the test workers inherit (PUBSUB_EMULATOR_HOST, BIGTABLE_EMULATOR_HOST, no metadata
 * server probing, a fixed project). Teardown stops both by PID. The binaries come from
 * `bash test/emulators/build.sh`.
 */

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = join(repo, ".bin");

interface Started {
  name: string;
  child: ChildProcess;
}

const started: Started[] = [];

async function startFake(name: string): Promise<string> {
  const path = join(bin, name);
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
  started.push({ name, child });
  const exited = new Promise<never>((_, reject) =>
    child.once("exit", (code) =>
      reject(new Error(`${name} exited with ${code} before listening: ${stderr}`)),
    ),
  );
  await Promise.race([waitForPort(port), exited]);
  exited.catch(() => {});
  return addr;
}

export async function setup(): Promise<void> {
  let pubsub: string;
  let bigtable: string;
  try {
    [pubsub, bigtable] = await Promise.all([startFake("pstestd"), startFake("bttestd")]);
  } catch (err) {
    await teardown();
    throw err;
  }
  process.env.PUBSUB_EMULATOR_HOST = pubsub;
  process.env.BIGTABLE_EMULATOR_HOST = bigtable;
  process.env.METADATA_SERVER_DETECTION = "none";
  process.env.GOOGLE_CLOUD_PROJECT = "test-project";
}

export async function teardown(): Promise<void> {
  await Promise.all(
    started.splice(0).map(
      ({ child }) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined)
            return resolve();
          const force = setTimeout(() => {
            if (child.pid !== undefined) process.kill(child.pid, "SIGKILL");
          }, 3000);
          child.once("exit", () => {
            clearTimeout(force);
            resolve();
          });
          process.kill(child.pid, "SIGTERM");
        }),
    ),
  );
}
