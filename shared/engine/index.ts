/** The local Cloud Workflows engine: parse, validate, interpret and keep executions. */
export { type Clock, realClock, virtualClock } from "./clock.ts";
export {
  type ChildExecution,
  CONNECTOR_NAMES,
  type ConnectorContext,
  type ConnectorFn,
  type ConnectorHost,
  rewriteUrl,
  type StubOutcome,
} from "./connectors.ts";
export {
  type EngineOptions,
  type ExecutionHandle,
  type ExecutionRecord,
  type ExecutionState,
  type ExecutionSummary,
  type LogEntry,
  loadProgram,
  type StartOptions,
  WorkflowEngine,
  WorkflowValidationError,
  workflowIdOf,
} from "./engine.ts";
export { DEFAULT_LIMITS, type HistoryEntry, type Limits } from "./interpreter.ts";
export { ParseError } from "./parse.ts";
export { compileProgram, type Finding, type Program } from "./program.ts";
export { validateFile, validateProgram, validateSource } from "./validate.ts";
