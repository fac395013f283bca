import { type GoFake, startGoFake } from "./helpers/go-fakes.ts";

/**
 * vitest globalSetup: starts the Pub/Sub fake (pstestd) and the Bigtable fake (bttestd) on free 127.0.0.1
 * ports and sets the env the test workers inherit (PUBSUB_EMULATOR_HOST, BIGTABLE_EMULATOR_HOST, no metadata
 * server probing, a fixed project). Teardown stops both by PID. The binaries come from
 * `bash test/emulators/build.sh`.
 */

const started: GoFake[] = [];

export async function setup(): Promise<void> {
  const results = await Promise.allSettled([startGoFake("pstestd"), startGoFake("bttestd")]);
  for (const r of results) if (r.status === "fulfilled") started.push(r.value);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) {
    await teardown();
    throw (failed as PromiseRejectedResult).reason;
  }
  const [pubsub, bigtable] = started;
  process.env.PUBSUB_EMULATOR_HOST = pubsub.addr;
  process.env.BIGTABLE_EMULATOR_HOST = bigtable.addr;
  process.env.METADATA_SERVER_DETECTION = "none";
  process.env.GOOGLE_CLOUD_PROJECT = "test-project";
}

export async function teardown(): Promise<void> {
  await Promise.all(started.splice(0).map((fake) => fake.stop()));
}
