import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGcpAdapters } from "../../shared/adapters/gcp/index.ts";
import { createGcpObjects } from "../../shared/adapters/gcp/objects.ts";
import {
  createRestClient,
  endpointsFromEnv,
  METADATA_TOKEN_PATH,
  metadataTokenSource,
  prefetchToken,
  type RestClient,
  restFromEnv,
} from "../../shared/adapters/gcp/rest.ts";
import { createRestBus } from "../../shared/adapters/gcp/rest-messages.ts";
import { createRestObjects } from "../../shared/adapters/gcp/rest-objects.ts";
import { createGcpWorkflows } from "../../shared/adapters/gcp/workflows.ts";
import { AlreadyExistsError, type MessageBus, NotFoundError } from "../../shared/adapters/ports.ts";
import { NonRetriableError, RetryableError } from "../../shared/core/errors.ts";
import { objectsContract } from "../adapters/objects-contract.ts";
import { type FakeGcs, parseMultipart, startFakeGcs } from "../adapters/objects-fake-gcs.ts";
import { type GoogleStandIn, standInEnv, startGoogleStandIn } from "./google-standin.ts";

let google: GoogleStandIn;
let gcs: FakeGcs;
let sleeps: number[];

beforeAll(async () => {
  [google, gcs] = await Promise.all([startGoogleStandIn("tok-1"), startFakeGcs()]);
});
afterAll(async () => {
  await Promise.all([google?.close(), gcs?.close()]);
});

/** A REST client on the metadata stand-in's token, recording its backoff waits instead of sleeping. */
function client(retry = { attempts: 3, baseMs: 100 }): RestClient {
  sleeps = [];
  return createRestClient({
    token: metadataTokenSource(google.url),
    retry,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
}

const restObjects = () =>
  createRestObjects({
    rest: client(),
    endpoint: gcs.url,
    library: async () => createGcpObjects({ projectId: "tessera-test", apiEndpoint: gcs.url }),
  });

objectsContract("Cloud Storage over the REST layer against a loopback fake", restObjects);

describe("REST layer: tokens, retries and errors", () => {
  it("takes the token from the metadata server with Metadata-Flavor: Google, once, and sends it as Bearer", async () => {
    const before = google.requests.length;
    const rest = client();
    const bus = createRestBus({
      projectId: "p1",
      rest,
      endpoint: google.url,
      library: async () => {
        throw new Error("publish must not load the client library");
      },
    });
    await bus.publish("topic-a", { a: 1 });
    await bus.publish("topic-a", { a: 2 });
    const seen = google.requests.slice(before);
    const tokenCalls = seen.filter((r) => r.path === METADATA_TOKEN_PATH);
    expect(tokenCalls).toHaveLength(1);
    expect(tokenCalls[0].headers["metadata-flavor"]).toBe("Google");
    const publishes = seen.filter((r) => r.path.endsWith(":publish"));
    expect(publishes.map((r) => r.headers.authorization)).toEqual(["Bearer tok-1", "Bearer tok-1"]);
  });

  it("retries 503 on an idempotent call with growing backoff, and honours Retry-After", async () => {
    const rest = client({ attempts: 4, baseMs: 100 });
    google.failNext("/topics/retry-me:publish", 503, 2);
    google.failNext("/topics/retry-me:publish", 429, 1, { "retry-after": "2" });
    const bus = createRestBus({
      projectId: "p1",
      rest,
      endpoint: google.url,
      library: async () => ({}) as MessageBus,
    });
    const id = await bus.publish("retry-me", "x");
    expect(google.published.at(-1)).toMatchObject({ topic: "retry-me", data: Buffer.from("x") });
    expect(id).toMatch(/^\d+$/);
    expect(sleeps).toHaveLength(3);
    expect(sleeps[0]).toBeGreaterThanOrEqual(50);
    expect(sleeps[0]).toBeLessThanOrEqual(100);
    expect(sleeps[1]).toBeGreaterThanOrEqual(100);
    expect(sleeps[1]).toBeLessThanOrEqual(200);
    expect(sleeps[2]).toBe(2000);
  });

  it("gives up after its attempts with a RetryableError naming the call and the status", async () => {
    const rest = client({ attempts: 2, baseMs: 10 });
    google.failNext("/topics/down:publish", 503, 2, { "retry-after": "7" });
    const bus = createRestBus({
      projectId: "p1",
      rest,
      endpoint: google.url,
      library: async () => ({}) as MessageBus,
    });
    const err = await bus.publish("down", "x").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryableError);
    expect((err as RetryableError).message).toContain("publish to topic down");
    expect((err as RetryableError).message).toContain("503");
    expect((err as RetryableError).retryAfterSeconds).toBe(7);
  });

  it("maps 403 to a NonRetriableError with the call as its field and an IAM fix, without retrying", async () => {
    const rest = client();
    const before = google.requests.length;
    google.failNext("/topics/forbidden:publish", 403, 5);
    const bus = createRestBus({
      projectId: "p1",
      rest,
      endpoint: google.url,
      library: async () => ({}) as MessageBus,
    });
    const err = await bus.publish("forbidden", "x").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonRetriableError);
    expect((err as NonRetriableError).field).toBe("publish to topic forbidden");
    expect((err as NonRetriableError).fix).toContain("service account");
    expect(google.requests.slice(before).filter((r) => r.path.includes("forbidden"))).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it("on 401 fetches a fresh token once and repeats the call", async () => {
    const rest = client();
    const bus = createRestBus({
      projectId: "p1",
      rest,
      endpoint: google.url,
      library: async () => ({}) as MessageBus,
    });
    await bus.publish("warm", "x");
    google.token = "tok-2";
    try {
      const before = google.requests.length;
      await bus.publish("after-rotation", "y");
      const seen = google.requests.slice(before);
      expect(seen.map((r) => r.path.split("/").at(-1))).toEqual([
        "after-rotation:publish",
        "token",
        "after-rotation:publish",
      ]);
      expect(seen[2].headers.authorization).toBe("Bearer tok-2");
    } finally {
      google.token = "tok-1";
    }
  });

  it("does not repeat a non-idempotent call (a Workflows execution) after a 503: RetryableError, one request", async () => {
    const wf = createGcpWorkflows({
      projectId: "p1",
      region: "europe-west1",
      rest: client(),
      endpoint: google.url,
    });
    const before = google.requests.length;
    google.failNext("/workflows/once/executions", 503, 1);
    await expect(wf.execute("once", { partition: "2024-05-01" })).rejects.toBeInstanceOf(RetryableError);
    expect(google.requests.slice(before).filter((r) => r.path.includes("/workflows/once/"))).toHaveLength(1);
    expect(google.executions.some((e) => e.name.includes("/workflows/once/"))).toBe(false);
  });

  it("sends the token source's quota project as x-goog-user-project (user credentials off Google Cloud)", async () => {
    const token = Object.assign(async () => "tok-1", { userProject: "quota-proj" });
    const rest = createRestClient({ token });
    const before = google.requests.length;
    await createRestBus({
      projectId: "p1",
      rest,
      endpoint: google.url,
      library: async () => ({}) as MessageBus,
    }).publish("quota-check", "x");
    expect(google.requests.slice(before)[0].headers["x-goog-user-project"]).toBe("quota-proj");
  });

  it("prefetchToken fetches the shared client's token ahead, so the first call does not wait for it; a failed prefetch is retried by the call", async () => {
    // A port of its own: restFromEnv's clients are per environment.
    const env = { ...standInEnv(google, gcs.url), TESSERA_PUBSUB_ENDPOINT: `${google.url}/prefetch-a` };
    const before = google.requests.length;
    await prefetchToken(env);
    const tokenCalls = () => google.requests.slice(before).filter((r) => r.path === METADATA_TOKEN_PATH);
    expect(tokenCalls()).toHaveLength(1);
    const { rest, endpoints } = restFromEnv(env);
    await rest.call({
      method: "GET",
      url: `${endpoints.storage}/storage/v1/b/pre/o`,
      what: "list",
      idempotent: true,
    });
    expect(tokenCalls()).toHaveLength(1);

    const failing = { ...env, TESSERA_PUBSUB_ENDPOINT: `${google.url}/prefetch-b` };
    google.failNext(METADATA_TOKEN_PATH, 500, 1);
    await expect(prefetchToken(failing)).resolves.toBeUndefined();
    const again = restFromEnv(failing);
    await again.rest.call({
      method: "GET",
      url: `${again.endpoints.storage}/storage/v1/b/pre/o`,
      what: "list",
      idempotent: true,
    });
    expect(tokenCalls()).toHaveLength(3);
    expect(gcs.requests.at(-1)?.headers.authorization).toBe("Bearer tok-1");
  });

  it("reads endpoints from the environment, Google's by default", () => {
    expect(endpointsFromEnv({})).toEqual({
      metadata: "http://metadata.google.internal",
      storage: "https://storage.googleapis.com",
      pubsub: "https://pubsub.googleapis.com",
      workflows: "https://workflowexecutions.googleapis.com",
    });
    expect(
      endpointsFromEnv(standInEnv({ url: "http://127.0.0.1:9", port: 9 }, "http://127.0.0.1:8/")),
    ).toEqual({
      metadata: "http://127.0.0.1:9",
      storage: "http://127.0.0.1:8",
      pubsub: "http://127.0.0.1:9",
      workflows: "http://127.0.0.1:9",
    });
  });
});

describe("Workflows executions over REST", () => {
  it("creates an execution: POST .../workflows/<w>/executions with the argument as a JSON string and the labels", async () => {
    const wf = createGcpWorkflows({
      projectId: "proj-x",
      region: "europe-west1",
      rest: client(),
      endpoint: google.url,
    });
    const before = google.requests.length;
    const e = await wf.execute(
      "mozaic-daily",
      { partition: "2024-05-01", params: {} },
      { labels: { pipeline: "mozaic-daily" } },
    );
    const req = google.requests.slice(before).find((r) => r.method === "POST")!;
    expect(req.path).toBe("/v1/projects/proj-x/locations/europe-west1/workflows/mozaic-daily/executions");
    expect(req.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(req.body.toString())).toEqual({
      argument: '{"partition":"2024-05-01","params":{}}',
      labels: { pipeline: "mozaic-daily" },
    });
    expect(e).toMatchObject({
      workflow: "mozaic-daily",
      state: "ACTIVE",
      argument: { partition: "2024-05-01", params: {} },
      labels: { pipeline: "mozaic-daily" },
    });
    expect(e.name).toMatch(
      /^projects\/proj-x\/locations\/europe-west1\/workflows\/mozaic-daily\/executions\//,
    );
    expect(Number.isNaN(Date.parse(e.startTime))).toBe(false);
  });

  it("gets, cancels and lists (label filter, every page); an unknown execution is NotFoundError", async () => {
    const wf = createGcpWorkflows({
      projectId: "proj-l",
      region: "us-east1",
      rest: client(),
      endpoint: google.url,
    });
    const made = [];
    for (let i = 0; i < 105; i++)
      made.push(await wf.execute("lister", i, { labels: { batch: i % 2 ? "odd" : "even" } }));
    const got = await wf.get(made[3].name);
    expect(got).toMatchObject({ name: made[3].name, argument: 3, state: "ACTIVE" });
    await wf.cancel(made[3].name);
    expect((await wf.get(made[3].name)).state).toBe("CANCELLED");
    const before = google.requests.length;
    const even = await wf.list({ workflow: "lister", labels: { batch: "even" } });
    expect(even.map((e) => e.argument)).toEqual(made.filter((_, i) => i % 2 === 0).map((_, k) => k * 2));
    const all = await wf.list({ workflow: "lister" });
    expect(all).toHaveLength(105);
    const lists = google.requests.slice(before);
    expect(lists[0].query).toMatchObject({ view: "FULL", filter: 'labels.batch="even"' });
    expect(lists.filter((r) => r.query.pageToken)).toHaveLength(1);
    await expect(
      wf.get("projects/proj-l/locations/us-east1/workflows/lister/executions/missing"),
    ).rejects.toBeInstanceOf(NotFoundError);
  });

  it("waits by polling get until the execution leaves ACTIVE", async () => {
    const wf = createGcpWorkflows({
      projectId: "proj-w",
      region: "us-east1",
      rest: client(),
      endpoint: google.url,
      pollMs: 5,
    });
    const made = await wf.execute("waiter", { n: 1 });
    const before = google.requests.length;
    setTimeout(() => {
      const e = google.executions.find((x) => x.name === made.name);
      if (e) e.state = "SUCCEEDED";
    }, 60);
    const done = await wf.wait(made.name);
    expect(done).toMatchObject({ name: made.name, state: "SUCCEEDED" });
    const gets = google.requests
      .slice(before)
      .filter((r) => r.method === "GET" && r.path.endsWith(made.name));
    expect(gets.length).toBeGreaterThan(1);
  });
});

describe("Pub/Sub publish over REST", () => {
  it("POSTs topics/<t>:publish with base64 data and attributes, returns the message id; 404 is NotFoundError", async () => {
    const bus = createRestBus({
      projectId: "proj-p",
      rest: client(),
      endpoint: google.url,
      library: async () => ({}) as MessageBus,
    });
    const before = google.requests.length;
    const id = await bus.publish("run-events", { type: "run.started" }, { origin: "test" });
    const req = google.requests.slice(before).find((r) => r.path.endsWith(":publish"))!;
    expect(req.path).toBe("/v1/projects/proj-p/topics/run-events:publish");
    expect(JSON.parse(req.body.toString())).toEqual({
      messages: [
        { data: Buffer.from('{"type":"run.started"}').toString("base64"), attributes: { origin: "test" } },
      ],
    });
    expect(google.published.at(-1)!.attributes).toEqual({ origin: "test" });
    expect(id).toMatch(/^\d+$/);
    google.failNext("/topics/gone:publish", 404, 1);
    await expect(bus.publish("gone", "x")).rejects.toBeInstanceOf(NotFoundError);
    await expect(bus.publish("Bad Topic!", "x")).rejects.toThrow();
  });

  it("leaves subscriptions to the client library, loaded on first use", async () => {
    let loaded = 0;
    const bus = createRestBus({
      projectId: "proj-p",
      rest: client(),
      endpoint: google.url,
      library: async () => {
        loaded++;
        return { ensureTopic: async () => {} } as unknown as MessageBus;
      },
    });
    await bus.publish("topic-one", "x");
    expect(loaded).toBe(0);
    await bus.ensureTopic("topic-one");
    await bus.ensureTopic("topic-two");
    expect(loaded).toBe(1);
  });
});

describe("Cloud Storage over REST: what crosses the wire", () => {
  it("a create-only put is one multipart upload with ifGenerationMatch=0 and the Bearer token; 412 is AlreadyExistsError", async () => {
    const store = restObjects().bucket("wire-check");
    const before = gcs.requests.length;
    await store.put("a/b c.json", '{"x":1}', {
      ifNotExists: true,
      contentType: "application/json",
      metadata: { k: "v" },
    });
    const req = gcs.requests[before];
    expect(req.method).toBe("POST");
    expect(req.path).toBe("/upload/storage/v1/b/wire-check/o");
    expect(req.query).toMatchObject({ uploadType: "multipart", name: "a/b c.json", ifGenerationMatch: "0" });
    expect(req.headers.authorization).toBe("Bearer tok-1");
    const { metadata, media } = parseMultipart(req);
    expect(metadata).toEqual({ name: "a/b c.json", contentType: "application/json", metadata: { k: "v" } });
    expect(media.toString()).toBe('{"x":1}');
    await expect(store.put("a/b c.json", "again", { ifNotExists: true })).rejects.toBeInstanceOf(
      AlreadyExistsError,
    );
    const get = gcs.requests.length;
    expect((await store.get("a/b c.json")).toString()).toBe('{"x":1}');
    expect(gcs.requests[get].rawPath).toBe("/storage/v1/b/wire-check/o/a%2Fb%20c.json");
    expect(gcs.requests[get].query).toEqual({ alt: "media" });
    expect(gcs.unexpected).toEqual([]);
  });
});

describe("createGcpAdapters on the REST layer", () => {
  it("objects and publish reach the endpoints the environment names, with the metadata server's token", async () => {
    const env = { ...standInEnv(google, gcs.url), PUBSUB_EMULATOR_HOST: "127.0.0.1:1" };
    const adapters = await createGcpAdapters({ projectId: "proj-e", region: "europe-west1", env });
    const store = adapters.objects.bucket("env-bucket");
    await store.put("x.txt", "hello");
    expect((await store.list(""))[0]).toMatchObject({ name: "x.txt", size: 5 });
    await adapters.messages.publish("ticks", { pipeline: "mmm" });
    expect(google.published.at(-1)).toMatchObject({ project: "proj-e", topic: "ticks" });
    await adapters.close();
  });
});
