import { NonRetriableError } from "../shared/core/errors.ts";
import { TOPICS } from "../shared/pipelines/platform.ts";
import type { PipelineDefinition } from "../shared/pipelines/types.ts";

/**
 * Every right a registry entry asks for must name something it declares: a function's or the console's
 * `writes` one of the pipeline's prefixes, a job's, a function's or the console's secrets one of the
 * pipeline's secrets, every topic used (a function's trigger, `publishes`) a platform topic or one a pipeline
 * declares. Checked for all enabled pipelines before the program creates any resource, so a bad entry stops
 * the plan with the field and the fix and leaves no half-registered resources behind. The components check
 * the same where they grant (with the same messages).
 */
export function checkDeclarations(pipelines: PipelineDefinition[]): void {
  const topics = new Set([...Object.values(TOPICS), ...pipelines.flatMap((p) => p.topics)]);
  for (const def of pipelines) {
    const id = def.id;
    const secret = (s: string, field: string, who = "") => {
      if (def.secrets.includes(s)) return;
      throw new NonRetriableError(
        who
          ? `pipeline "${id}": ${who} uses secret "${s}" that it does not declare`
          : `pipeline "${id}" uses secret "${s}" that it does not declare`,
        { field, fix: `add "${s}" to the pipeline's secrets` },
      );
    };
    const prefix = (w: string, field: string, who: string) => {
      if (def.prefixes.some((p) => p.prefix === w)) return;
      throw new NonRetriableError(`pipeline "${id}": ${who} writes "${w}", not one of its prefixes`, {
        field,
        fix: `add { bucket, prefix: "${w}" } to the pipeline's prefixes, or name one of them`,
      });
    };
    const topic = (t: string, field: string) => {
      if (topics.has(t)) return;
      throw new NonRetriableError(`topic "${t}" is neither a platform topic nor declared by a pipeline`, {
        field,
        fix: `add "${t}" to the pipeline's topics`,
      });
    };
    for (const j of def.jobs) for (const s of j.secrets ?? []) secret(s, `jobs.${j.name}.secrets`);
    for (const f of def.functions) {
      for (const s of f.secrets ?? []) secret(s, `functions.${f.name}.secrets`);
      for (const w of f.writes ?? []) prefix(w, `functions.${f.name}.writes`, `function "${f.name}"`);
      for (const t of f.publishes ?? []) topic(t, `functions.${f.name}.publishes`);
      if (f.trigger.kind === "topic") topic(f.trigger.topic, `functions.${f.name}.trigger.topic`);
    }
    const access = def.console ?? {};
    const field = (k: string) => `pipelines.${id}.console.${k}`;
    for (const w of access.writes ?? []) prefix(w, field("writes"), "the console");
    for (const t of access.publishes ?? []) topic(t, field("publishes"));
    for (const s of access.secrets ?? []) secret(s, field("secrets"), "the console");
    for (const s of access.addsSecretVersions ?? []) secret(s, field("addsSecretVersions"), "the console");
  }
}
