import { HoldfastError } from "../errors.js";
import type { CheckReport } from "../engines/engine.js";
import type { AgeKeys } from "../pipeline/age.js";
import type { Manifest } from "../repository/manifest.js";
import type { Repository } from "../repository/repository.js";
import { openRepositoryExport } from "./reader.js";

/**
 * `verify --deep` of an export: read it back as import will (format version, schema.json, every
 * stream's SHA-256 and row count, every value decoded, sealed values opened) and compare the row
 * counts with the repository manifest.
 */
export async function checkExport(repo: Repository, manifest: Manifest, keys: AgeKeys | undefined): Promise<CheckReport> {
  const problems: string[] = [];
  const tables: CheckReport["tables"] = [];
  const reader = await openRepositoryExport(repo, manifest, { keys });
  try {
    for await (const t of reader.tables()) {
      let rows = 0;
      try {
        for await (const _row of t.rows()) rows++;
      } catch (err) {
        if (!(err instanceof HoldfastError) || err.code === "WRONG_KEY" || err.code === "INTERRUPTED") throw err;
        problems.push(err.message);
      }
      const expected = manifest.tables.find((m) => m.name === t.entry.name)?.rows ?? t.entry.rows;
      if (rows !== expected) problems.push(`${t.entry.name}: ${rows} rows read, ${expected} recorded`);
      tables.push({ name: t.entry.name, expectedRows: expected, actualRows: rows });
    }
  } finally {
    await reader.close();
  }
  return { ok: problems.length === 0, problems, tables, details: { formatVersion: reader.manifest.formatVersion, sealedColumns: reader.manifest.sensitive?.columns.length ?? 0 } };
}
