import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkFailures, createAmoClient } from "../../containers/taar/amo.ts";
import { type AmoStub, startAmoStub } from "../../containers/taar/amo-stub.ts";

describe("AMO client against the stub", () => {
  let stub: AmoStub;
  beforeAll(async () => {
    stub = await startAmoStub({
      addons: 5200,
      transientRate: 0.05,
      transientFailures: 1,
      brokenVersions: 3,
      slowRate: 0.02,
      slowMs: 100,
    });
  });
  afterAll(() => stub.close());

  it("pages all 104 search pages, retries transient failures, reports the requests that kept failing", async () => {
    const client = createAmoClient({ baseUrl: stub.url, concurrency: 24, retries: 3, backoffMs: 5 });
    const r = await client.dump();
    expect(r.pages).toBe(104);
    expect(r.searched).toBe(5200);
    expect(r.retried).toBeGreaterThan(0);
    expect(r.failures.map((f) => decodeURIComponent(f.url)).sort()).toEqual(
      stub.brokenGuids.map((g) => `${stub.url}/api/v4/addons/addon/${g}/versions/`).sort(),
    );
    const noVersions = stub.addons.filter((a) => a.versions.length === 0).map((a) => a.record.guid as string);
    expect(noVersions.length).toBeGreaterThan(0);
    expect(new Set(r.dropped)).toEqual(new Set([...noVersions, ...stub.brokenGuids]));
    // first_create_date is the oldest version's file date, read from the last versions page.
    const multi = stub.addons.find((a) => a.versions.length > 30)!;
    expect(r.addons[multi.record.guid as string].first_create_date).toBe(
      multi.versions.at(-1)!.files[0].created,
    );
    expect(
      stub.hits.get(
        `/api/v4/addons/addon/${encodeURIComponent(multi.record.guid as string)}/versions/?page=${Math.ceil(multi.versions.length / 25)}`,
      ),
    ).toBeGreaterThan(0);
    expect(() => checkFailures(r, 0.01)).not.toThrow();
    expect(() => checkFailures(r, 0.0001)).toThrow(/3 request\(s\) failed after retries/);
  }, 60_000);

  it("fails a page after the retries are spent", async () => {
    const hard = await startAmoStub({ addons: 300, transientRate: 0.3, transientFailures: 5, seed: 9 });
    try {
      const r = await createAmoClient({ baseUrl: hard.url, retries: 1, backoffMs: 1 })
        .dump()
        .catch((e) => e);
      if (r instanceof Error) expect(r.message).toMatch(/unreachable/);
      else {
        expect(r.failures.length).toBeGreaterThan(0);
        expect(r.failures[0].error).toMatch(/HTTP 503/);
        expect(() => checkFailures(r, 0.01)).toThrow();
      }
    } finally {
      await hard.close();
    }
  });

  it("reads the editorial list: sorted unique guids without null, 'null' or ''", async () => {
    const client = createAmoClient({ baseUrl: stub.url, retries: 3, backoffMs: 1 });
    const guids = await client.editorial(`${stub.url}/api/v4/discovery/editorial/`, true);
    const expected = stub.addons
      .filter((a) => (a.record.promoted as { category?: string } | null)?.category === "recommended")
      .map((a) => a.record.guid as string)
      .sort();
    expect(guids).toEqual(expected);
    expect(await client.guidExists(guids[0])).toBe(true);
    expect(await client.guidExists("nope@nowhere")).toBe(false);
  });
});
