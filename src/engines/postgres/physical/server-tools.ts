import { existsSync, readdirSync } from "node:fs";
import { delimiter, join } from "node:path";
import { HoldfastError } from "../../../errors.js";

export type ServerTool = "pg_basebackup" | "pg_ctl" | "pg_controldata" | "postgres";

/**
 * Server-side binaries. HOLDFAST_PG_BIN pins one folder. Otherwise /usr/lib/postgresql/<major>/bin
 * (Debian) — the given major when a data directory dictates it (pg_ctl must match PG_VERSION),
 * else the newest (pg_basebackup must be at least as new as the server) — then PATH.
 */
export function findServerTool(tool: ServerTool, major?: number): string {
  const pinned = process.env.HOLDFAST_PG_BIN;
  const candidates: string[] = [];
  if (pinned) candidates.push(join(pinned, tool));
  else {
    const root = "/usr/lib/postgresql";
    if (existsSync(root)) {
      const majors = readdirSync(root).filter((d) => /^\d+$/.test(d) && (major === undefined || Number(d) === major)).sort((a, b) => Number(b) - Number(a));
      for (const m of majors) candidates.push(join(root, m, "bin", tool));
    }
    for (const dir of (process.env.PATH ?? "").split(delimiter)) if (dir) candidates.push(join(dir, tool));
  }
  const found = candidates.find((c) => existsSync(c));
  if (!found) {
    throw new HoldfastError("TOOL_MISSING", `${tool}${major ? ` for PostgreSQL ${major}` : ""} not found${pinned ? ` in HOLDFAST_PG_BIN=${pinned}` : " (looked in /usr/lib/postgresql/*/bin and PATH)"}`, {
      hint: major ? `install postgresql-${major} or set HOLDFAST_PG_BIN` : "install the PostgreSQL server packages or set HOLDFAST_PG_BIN",
    });
  }
  return found;
}
