import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConnectorHost } from "../../shared/engine/connectors.ts";
import { WorkflowEngine } from "../../shared/engine/engine.ts";
import { MemoryBus, MemoryJobs, MemoryObjects, MemorySecrets, MemoryWarehouse } from "./memory-ports.ts";

function engineWith(
  host: ConnectorHost,
  extra: Partial<ConstructorParameters<typeof WorkflowEngine>[0]> = {},
) {
  return new WorkflowEngine({
    host,
    virtualClock: true,
    project: "proj",
    location: "europe-west1",
    ...extra,
  });
}

async function run(engine: WorkflowEngine, yaml: string, argument: unknown = null) {
  return engine.run(engine.compile(yaml, "wf.yaml"), { argument });
}

const RUN_JOB = `
main:
  params: [args]
  steps:
    - run:
        call: googleapis.run.v2.projects.locations.jobs.run
        args:
          name: \${"projects/proj/locations/europe-west1/jobs/" + args.job}
          body:
            overrides:
              containerOverrides:
                - args: ["--date", "2026-01-01"]
                  env:
                    - name: MODE
                      value: full
              taskCount: 3
          connector_params:
            timeout: \${args.timeout}
        result: execution
    - out:
        return: \${execution}
`;

describe("googleapis.run.v2 jobs.run", () => {
  it("runs the job through the jobs port and returns the Execution resource", async () => {
    const jobs = new MemoryJobs();
    const r = await run(engineWith({ jobs }), RUN_JOB, { job: "forecast", timeout: 60 });
    expect(r.state).toBe("SUCCEEDED");
    expect(jobs.runs[0]).toMatchObject({
      job: "forecast",
      args: ["--date", "2026-01-01"],
      env: { MODE: "full" },
      taskCount: 3,
    });
    expect(r.result).toMatchObject({ job: "forecast", taskCount: 3, succeededCount: 3, failedCount: 0 });
    expect((r.result as { name: string }).name).toMatch(/jobs\/forecast\/executions\//);
  });

  it("raises OperationError carrying operation when the execution fails", async () => {
    const jobs = new MemoryJobs();
    jobs.script = () => ({ outcome: "FAILED", reason: "task 1 exited 3" });
    const r = await run(engineWith({ jobs }), RUN_JOB, { job: "forecast", timeout: 60 });
    expect(r.state).toBe("FAILED");
    expect(r.error).toMatchObject({
      tags: ["OperationError"],
      operation: { done: true, error: { message: "task 1 exited 3" } },
    });
  });

  it("honours connector_params.timeout and cancels the job", async () => {
    const jobs = new MemoryJobs();
    jobs.script = () => ({ outcome: "HANG" });
    const r = await run(engineWith({ jobs }), RUN_JOB, { job: "slow", timeout: 0.05 });
    expect(r.state).toBe("FAILED");
    expect(r.error).toMatchObject({ tags: ["TimeoutError"] });
    expect(jobs.cancelled).toHaveLength(1);
  });

  it("skip_polling returns the initial operation at once", async () => {
    const jobs = new MemoryJobs();
    jobs.script = () => ({ outcome: "HANG" });
    const r = await run(
      engineWith({ jobs }),
      "- j:\n    call: googleapis.run.v2.projects.locations.jobs.run\n    args:\n      name: projects/p/locations/l/jobs/j\n      connector_params: {skip_polling: true}\n    result: op\n- r:\n    return: ${[op.done, op.metadata.job]}\n",
    );
    expect(r.result).toEqual([false, "j"]);
  });

  it("an OperationError can be caught and inspected", async () => {
    const jobs = new MemoryJobs();
    jobs.script = () => ({ outcome: "FAILED", reason: "boom" });
    const yaml = `
- t:
    try:
      call: googleapis.run.v2.projects.locations.jobs.run
      args:
        name: projects/proj/locations/europe-west1/jobs/j
    except:
      as: e
      steps:
        - r:
            return: \${[e.tags, e.operation.error.message]}
`;
    const r = await run(engineWith({ jobs }), yaml);
    expect(r.result).toEqual([["OperationError"], "boom"]);
  });
});

describe("child workflow executions", () => {
  const child = `
main:
  params: [a]
  steps:
    - r:
        return: \${a.n * 2}
`;
  const host = (): ConnectorHost => ({
    resolveWorkflow: (id) => (id === "child" ? { file: "child.workflows.yaml", text: child } : undefined),
  });

  it("executions.run runs a child through this engine and returns its result", async () => {
    const engine = engineWith(host());
    const r = await run(
      engine,
      `
- c:
    call: googleapis.workflowexecutions.v1.projects.locations.workflows.executions.run
    args:
      workflow_id: child
      argument: {n: 21}
    result: out
- r:
    return: \${out}
`,
    );
    expect(r.result).toBe(42);
    const children = engine.list({ workflow: "child" });
    expect(children).toHaveLength(1);
    expect(children[0].parent).toBe(r.name);
  });

  it("executions.create returns the ACTIVE execution at once and get polls it", async () => {
    const engine = engineWith(host());
    const r = await run(
      engine,
      `
- c:
    call: googleapis.workflowexecutions.v1.projects.locations.workflows.executions.create
    args:
      parent: projects/proj/locations/europe-west1/workflows/child
      body:
        argument: '{"n": 5}'
    result: ex
- first:
    assign:
      - started: \${ex.state}
- poll:
    call: googleapis.workflowexecutions.v1.projects.locations.workflows.executions.get
    args:
      name: \${ex.name}
    result: ex
- check:
    switch:
      - condition: \${ex.state == "ACTIVE"}
        next: wait
    next: done
- wait:
    call: sys.sleep
    args: {seconds: 1}
    next: poll
- done:
    return: \${[started, ex.state, json.decode(ex.result)]}
`,
    );
    expect(r.state).toBe("SUCCEEDED");
    expect(r.result).toEqual(["ACTIVE", "SUCCEEDED", 10]);
  });

  it("executions.create labels the child with body.labels", async () => {
    const engine = engineWith(host());
    const r = await run(
      engine,
      `
- c:
    call: googleapis.workflowexecutions.v1.projects.locations.workflows.executions.create
    args:
      parent: projects/proj/locations/europe-west1/workflows/child
      body:
        argument: '{"n": 1}'
        labels:
          backfill_id: bf-9
    result: ex
- r:
    return: \${ex.labels}
`,
    );
    expect(r.result).toEqual({ backfill_id: "bf-9" });
    expect(engine.list({ labels: { backfill_id: "bf-9" } }).map((s) => s.workflow)).toEqual(["child"]);
  });

  it("a failed child raises OperationError in the parent", async () => {
    const engine = engineWith({
      resolveWorkflow: () => ({ file: "bad.yaml", text: "- r:\n    raise: nope\n" }),
    });
    const r = await run(
      engine,
      `
- c:
    call: googleapis.workflowexecutions.v1.projects.locations.workflows.executions.run
    args:
      workflow_id: bad
`,
    );
    expect(r.error).toMatchObject({ tags: ["OperationError"] });
  });
});

describe("data connectors", () => {
  it("bigquery jobs.query goes through the warehouse port with named parameters", async () => {
    const warehouse = new MemoryWarehouse();
    warehouse.rows = [{ n: 3, name: "a" }];
    const r = await run(
      engineWith({ warehouse }),
      `
- q:
    call: googleapis.bigquery.v2.jobs.query
    args:
      projectId: proj
      body:
        query: SELECT @x AS n
        useLegacySql: false
        queryParameters:
          - name: x
            parameterType: {type: INT64}
            parameterValue: {value: "3"}
    result: res
- r:
    return: \${[res.rows[0].f[0].v, res.totalRows, res.schema.fields[1].name]}
`,
    );
    expect(r.result).toEqual(["3", "1", "name"]);
    expect(warehouse.queries[0]).toEqual({ sql: "SELECT @x AS n", params: { x: 3 } });
  });

  it("bigquery jobs.insert returns a DONE job; a failing query is an OperationError", async () => {
    const warehouse = new MemoryWarehouse();
    const yaml = `
- q:
    call: googleapis.bigquery.v2.jobs.insert
    args:
      projectId: proj
      body:
        configuration:
          query:
            query: DELETE FROM t WHERE true
    result: job
- r:
    return: \${job.status.state}
`;
    expect((await run(engineWith({ warehouse }), yaml)).result).toBe("DONE");
    warehouse.fail = "syntax error";
    expect((await run(engineWith({ warehouse }), yaml)).error).toMatchObject({ tags: ["OperationError"] });
  });

  it("storage objects insert/get/list/delete go through the objects port", async () => {
    const objects = new MemoryObjects();
    const r = await run(
      engineWith({ objects }),
      `
- put:
    call: googleapis.storage.v1.objects.insert
    args:
      bucket: b
      name: dir/marker.json
      body: {ok: true}
- get:
    call: googleapis.storage.v1.objects.get
    args:
      bucket: b
      object: dir/marker.json
      alt: media
    result: content
- ls:
    call: googleapis.storage.v1.objects.list
    args:
      bucket: b
      prefix: dir/
    result: listing
- del:
    call: googleapis.storage.v1.objects.delete
    args:
      bucket: b
      object: dir/marker.json
- missing:
    try:
      call: googleapis.storage.v1.objects.get
      args:
        bucket: b
        object: dir/marker.json
    except:
      as: e
      steps:
        - r:
            return: \${[content, listing.items[0].name, e.code]}
`,
    );
    expect(r.result).toEqual([{ ok: true }, "dir/marker.json", 404]);
  });

  it("pubsub publish decodes base64 data onto the messages port", async () => {
    const messages = new MemoryBus();
    const r = await run(
      engineWith({ messages }),
      `
- p:
    call: googleapis.pubsub.v1.projects.topics.publish
    args:
      topic: projects/proj/topics/done
      body:
        messages:
          - data: \${base64.encode(text.encode("hello"))}
            attributes: {k: v}
    result: out
- r:
    return: \${len(out.messageIds)}
`,
    );
    expect(r.result).toBe(1);
    expect(messages.published[0].topic).toBe("done");
    expect(messages.published[0].data.toString()).toBe("hello");
    expect(messages.published[0].attributes).toEqual({ k: "v" });
  });

  it("secretmanager accessString reads the secrets port", async () => {
    const r = await run(
      engineWith({ secrets: new MemorySecrets({ token: "s3cret" }) }),
      `
- s:
    call: googleapis.secretmanager.v1.projects.secrets.versions.accessString
    args:
      secret_id: token
    result: v
- r:
    return: \${v}
`,
    );
    expect(r.result).toBe("s3cret");
  });

  it("an unmapped connector fails naming it", async () => {
    const r = await run(
      engineWith({}),
      "- c:\n    call: googleapis.compute.v1.instances.list\n    args: {project: p}\n",
    );
    expect(r.state).toBe("FAILED");
    expect(JSON.stringify(r.error)).toContain("googleapis.compute.v1.instances.list");
  });

  it("a port that is not wired fails naming it", async () => {
    const r = await run(
      engineWith({}),
      "- c:\n    call: googleapis.secretmanager.v1.projects.secrets.versions.accessString\n    args: {secret_id: x}\n",
    );
    expect(JSON.stringify(r.error)).toContain("ConnectorHost.secrets");
  });

  it("stubs replace connector calls with a finished operation", async () => {
    const engine = engineWith(
      {},
      {
        stubs: {
          "googleapis.run.v2.projects.locations.jobs.run": {
            done: true,
            error: { code: 2, message: "stubbed failure" },
          },
        },
      },
    );
    const r = await run(engine, RUN_JOB, { job: "x", timeout: 10 });
    expect(r.error).toMatchObject({
      tags: ["OperationError"],
      operation: { error: { message: "stubbed failure" } },
    });
  });
});

describe("http.*", () => {
  let server: Server;
  let base = "";
  const seen: { method: string; url: string; body: string; ct: string | undefined }[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        seen.push({ method: req.method ?? "", url: req.url ?? "", body, ct: req.headers["content-type"] });
        if (req.url?.startsWith("/fail")) {
          res.writeHead(Number(req.url.slice(6, 9)), { "content-type": "application/json" });
          res.end(JSON.stringify({ error: "nope" }));
          return;
        }
        res.writeHead(200, {
          "content-type": req.url?.startsWith("/text") ? "text/plain" : "application/json",
        });
        res.end(
          req.url?.startsWith("/text")
            ? "plain"
            : JSON.stringify({ echo: body ? JSON.parse(body) : null, path: req.url }),
        );
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const addr = server.address();
    base = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("rewrites function URLs to the local host, sends JSON and parses JSON replies", async () => {
    const engine = engineWith({
      functionUrls: { "https://europe-west1-proj.cloudfunctions.net/dispatch": `${base}/fn/dispatch` },
    });
    const r = await run(
      engine,
      `
- c:
    call: http.post
    args:
      url: https://europe-west1-proj.cloudfunctions.net/dispatch
      query: {a: 1}
      body: {x: [1, 2]}
      auth: {type: OIDC}
    result: resp
- t:
    call: http.get
    args:
      url: ${base}/text
    result: txt
- r:
    return: \${[resp.code, resp.body.echo, resp.body.path, txt.body]}
`,
    );
    expect(r.result).toEqual([200, { x: [1, 2] }, "/fn/dispatch?a=1", "plain"]);
    expect(seen.find((s) => s.url.startsWith("/fn"))?.ct).toBe("application/json");
  });

  it("a non-2xx reply raises HttpError with code, headers and body; 503 is retried by default_retry", async () => {
    const engine = engineWith({});
    const r = await run(
      engine,
      `
- c:
    try:
      call: http.get
      args:
        url: ${base}/fail/503
    retry: \${http.default_retry}
    except:
      as: e
      steps:
        - r:
            return: \${[e.tags, e.code, e.body.error]}
`,
    );
    expect(r.result).toEqual([["HttpError"], 503, "nope"]);
    expect(r.sleeps).toEqual([1, 1.25, 1.5625, 1.953125, 2.44140625]);
  });

  it("a refused connection is ConnectionFailedError", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const addr = closed.address();
    const port = typeof addr === "object" && addr ? addr.port : 0;
    await new Promise<void>((r) => closed.close(() => r()));
    const r = await run(
      engineWith({}),
      `- c:\n    call: http.get\n    args:\n      url: http://127.0.0.1:${port}/x\n`,
    );
    expect(r.error).toMatchObject({ tags: ["ConnectionFailedError"] });
  });

  it("fetch is injectable", async () => {
    const calls: string[] = [];
    const fake = (async (url: URL | string) => {
      calls.push(String(url));
      return new Response(JSON.stringify({ ok: 1 }), {
        status: 200,
        headers: { "content-type": "application/json" },
      });
    }) as typeof fetch;
    const r = await run(
      engineWith({ fetch: fake }),
      "- c:\n    call: http.request\n    args:\n      method: PUT\n      url: https://example.test/a\n    result: x\n- r:\n    return: ${x.body.ok}\n",
    );
    expect(r.result).toBe(1);
    expect(calls).toEqual(["https://example.test/a"]);
  });
});
