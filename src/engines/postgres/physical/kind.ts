import { isAbsolute, resolve } from "node:path";
import { HoldfastError } from "../../../errors.js";
import { totalStoredBytes } from "../../../repository/manifest.js";
import { engineKind, type EngineTraits } from "../../kind.js";
import { describePg, isPgConnection, parsePgUrl, type PgRef } from "../pg-ref.js";

export const PHYSICAL_ENGINE = "postgres-physical";

/** A cluster to take base backups of (a connection), or a data directory to restore into. */
export type PhysicalRef = { server: PgRef } | { dataDir: string };

/** PostgreSQL base backups with their WAL archive. */
export const physicalTraits: EngineTraits<PhysicalRef> = {
  name: PHYSICAL_ENGINE,
  lockSpace: "physical",
  usesWalArchive: true,
  pathTargets: true,
  targetNoun: "data directory",

  summarize(m) {
    const extra = m.files.length > 1 ? `, with ${m.files.length - 1} configuration file(s) kept outside the data directory` : "";
    return `base backup ${String(m.details.startLsn)} → ${String(m.details.stopLsn)} on timeline ${String(m.details.timeline)}, WAL ${String(m.details.walStart)} … ${String(m.details.walStop)} archived (${totalStoredBytes(m)} bytes stored${extra})`;
  },

  parse(text: string): PhysicalRef {
    if (isPgConnection(text)) return { server: parsePgUrl(text) };
    if (!text.trim()) throw new HoldfastError("USAGE", "no data directory given");
    return { dataDir: isAbsolute(text) ? text : resolve(text) };
  },

  describe(ref: PhysicalRef): string {
    return "server" in ref ? describePg(ref.server) : ref.dataDir;
  },
};

export const physicalKind = engineKind(physicalTraits, async () => (await import("./engine.js")).physicalEngine);
