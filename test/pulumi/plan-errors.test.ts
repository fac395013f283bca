import { describe, expect, it } from "vitest";
import { checkDeclarations } from "../../pulumi/declarations.ts";
import { NonRetriableError } from "../../shared/core/errors.ts";
import { registry } from "../../shared/pipelines/index.ts";
import type { PipelineDefinition } from "../../shared/pipelines/types.ts";
import { consoleConfig, consoleOptions, fxModels } from "./fixtures.ts";

/**
 * A registry entry that asks for rights it has not declared stops the plan with an error naming the field and
 * the fix, before anything is deployed: a function or the console writing outside the pipeline's prefixes,
 * using a secret the pipeline does not declare, publishing to a topic nobody declares.
 */
async function planError(def: PipelineDefinition): Promise<NonRetriableError> {
  const { planResources } = await import("../../pulumi/plan.ts");
  const err = await planResources(consoleConfig, [def], consoleOptions).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(NonRetriableError);
  return err as NonRetriableError;
}

const withFunction = (patch: Partial<PipelineDefinition["functions"][number]>): PipelineDefinition => ({
  ...fxModels,
  functions: [{ ...fxModels.functions[0], ...patch }, fxModels.functions[1]],
});

describe("plan errors for undeclared prefixes, secrets and topics", () => {
  it("a function writing a prefix the pipeline does not declare", async () => {
    const err = await planError(withFunction({ writes: ["fx-models/elsewhere/"] }));
    expect(err.message).toBe(
      'pipeline "fx-models": function "api" writes "fx-models/elsewhere/", not one of its prefixes',
    );
    expect(err.field).toBe("functions.api.writes");
    expect(err.fix).toContain('prefix: "fx-models/elsewhere/"');
  });

  it("a function using a secret the pipeline does not declare", async () => {
    const err = await planError(withFunction({ secrets: ["postgres-dsn"] }));
    expect(err.message).toBe('pipeline "fx-models" uses secret "postgres-dsn" that it does not declare');
    expect(err.field).toBe("functions.api.secrets");
    expect(err.fix).toBe('add "postgres-dsn" to the pipeline\'s secrets');
  });

  it("a job using a secret the pipeline does not declare", async () => {
    const err = await planError({
      ...fxModels,
      jobs: [{ ...fxModels.jobs[0], secrets: ["postgres-dsn"] }, fxModels.jobs[1]],
    });
    expect(err.message).toBe('pipeline "fx-models" uses secret "postgres-dsn" that it does not declare');
    expect(err.field).toMatch(/^jobs\.search\.secrets/);
  });

  it("a function publishing to a topic nobody declares", async () => {
    const err = await planError(withFunction({ publishes: ["nobody-declares-this"] }));
    expect(err.message).toContain(
      'topic "nobody-declares-this" is neither a platform topic nor declared by a pipeline',
    );
    expect(err.field).toBe("functions.api.publishes");
  });

  it("the console writing a prefix the pipeline does not declare", async () => {
    const err = await planError({
      ...fxModels,
      console: { ...fxModels.console, writes: ["fx-models/other/"] },
    });
    expect(err.message).toBe(
      'pipeline "fx-models": the console writes "fx-models/other/", not one of its prefixes',
    );
    expect(err.field).toBe("pipelines.fx-models.console.writes");
  });

  it("the console using a secret the pipeline does not declare", async () => {
    const err = await planError({ ...fxModels, console: { ...fxModels.console, secrets: ["postgres-dsn"] } });
    expect(err.message).toBe(
      'pipeline "fx-models": the console uses secret "postgres-dsn" that it does not declare',
    );
    expect(err.field).toBe("pipelines.fx-models.console.secrets");
  });

  it("a function triggered by a topic nobody declares; the real registry and the fixtures declare all they use", async () => {
    const err = await planError({
      ...fxModels,
      functions: [
        fxModels.functions[0],
        { ...fxModels.functions[1], trigger: { kind: "topic", topic: "no-such-topic" } },
      ],
    });
    expect(err.field).toBe("functions.intake.trigger.topic");
    expect(() => checkDeclarations(registry.list())).not.toThrow();
    expect(() => checkDeclarations([fxModels])).not.toThrow();
  });
});
