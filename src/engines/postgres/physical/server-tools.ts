import { findPostgresBinary } from "../tools.js";

export type ServerTool = "pg_basebackup" | "pg_ctl" | "pg_controldata" | "postgres";

/** Server-side binaries, found like the client tools (see findPostgresBinary). */
export function findServerTool(tool: ServerTool, major?: number): string {
  return findPostgresBinary(tool, {
    major,
    hint: major ? `install postgresql-${major} or set HOLDFAST_PG_BIN` : "install the PostgreSQL server packages or set HOLDFAST_PG_BIN",
  });
}
