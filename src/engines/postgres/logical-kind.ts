import { engineKind, type EngineTraits } from "../kind.js";
import { describePg, parsePgUrl, type PgRef } from "./pg-ref.js";

/** A PostgreSQL database backed up with pg_dump: postgres://…, postgresql://… or libpq's `host=… dbname=…`. */
export const postgresTraits: EngineTraits<PgRef> = {
  name: "postgres",
  safetyBackupInRepository: true,
  parse: parsePgUrl,
  describe: describePg,
};

export const postgresKind = engineKind(postgresTraits, async () => (await import("./logical.js")).postgresEngine);
