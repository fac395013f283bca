/** The throwaway PostgreSQL lives in product code (the local twin starts one); tests import it from here. */
export {
  DEFAULT_PG_BIN,
  type PostgresCluster,
  postgresAvailable,
  type StartOptions,
  startPostgres,
} from "../../containers/mozaggregator/postgres-local.ts";
