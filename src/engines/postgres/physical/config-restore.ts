import { appendFile, chown, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { buffer } from "node:stream/consumers";
import type { Manifest } from "../../../repository/manifest.js";
import type { OpenBackupFile } from "../../engine.js";
import { quoteConf } from "./shell-command.js";
import { configDetails, ORIGINAL_CONFIG_DIR, ORIGINAL_CONFIG_README, restoredConfigName, type ConfigFile } from "./config-files.js";

/** Where a restore put the original configuration files, and what the backup says it lacks. */
export interface PlacedConfig {
  /** Absent when the backup stored no configuration file. */
  folder?: string;
  files: { role: ConfigFile["role"]; originalPath: string; path: string }[];
  /** The backup's own warnings: configuration it could not store. */
  missing: string[];
}

/**
 * Put the configuration files the backup stored (those the server kept outside its data
 * directory) into <dir>/holdfast-original-config/, 0600, owned like the data directory. They are
 * never put in force: they name production's data_directory, hba_file, ident_file and port, and a
 * side restore must not touch production. Each stream is read to its end, so its hashes are checked.
 */
export async function placeOriginalConfig(open: OpenBackupFile, manifest: Manifest, dir: string, owner: { uid: number; gid: number }): Promise<PlacedConfig> {
  const { files, warnings } = configDetails(manifest.details);
  const stored = files.filter((f): f is ConfigFile & { storedAs: string } => f.storedAs !== undefined);
  const placed: PlacedConfig = { files: [], missing: warnings };
  if (stored.length === 0) return placed;
  const folder = join(dir, ORIGINAL_CONFIG_DIR);
  await mkdir(folder, { mode: 0o700 });
  await chown(folder, owner.uid, owner.gid);
  const write = async (name: string, content: Buffer | string) => {
    const path = join(folder, name);
    await writeFile(path, content, { mode: 0o600, flag: "wx" });
    await chown(path, owner.uid, owner.gid);
    return path;
  };
  for (const f of stored) {
    const path = await write(restoredConfigName(f.storedAs), await buffer(await open(f.storedAs)));
    placed.files.push({ role: f.role, originalPath: f.path, path });
  }
  await write(ORIGINAL_CONFIG_README, [
    `Configuration of ${manifest.source.uri} as it was when backup ${manifest.id} was taken: the server kept`,
    "these files outside its data directory, where a base backup does not look. They are not in force:",
    "they name the original's data_directory, hba_file, ident_file and port. Copy the settings you need",
    "into ../postgresql.conf, ../pg_hba.conf and ../pg_ident.conf, or put these files in place of the",
    "originals when this copy replaces the lost server.",
    "",
    ...placed.files.map((p) => `${p.path.slice(folder.length + 1)}  was  ${p.originalPath}  (${p.role})`),
    "",
  ].join("\n"));
  placed.folder = folder;
  return placed;
}

/** Lines for the restore's output: where the originals went and what to do with them. */
export function describePlaced(placed: PlacedConfig, dir: string): string[] {
  const lines = placed.missing.map((w) => `the backup lacks part of the configuration: ${w}`);
  if (placed.folder) {
    const names = placed.files.map((f) => `${f.path.slice(placed.folder!.length + 1)} (was ${f.originalPath})`).join(", ");
    lines.unshift(`original configuration in ${placed.folder}: ${names}; not in force (it names the original's paths and port): copy what you need into ${dir}/postgresql.conf and pg_hba.conf`);
  }
  return lines;
}

/**
 * When postgresql.conf was inside the data directory it is restored and in force, and it may name
 * an hba_file / ident_file outside it (production's, or missing on another host). Point those two
 * settings at the restored originals in postgresql.auto.conf (last one wins). Includes cannot be
 * redirected that way: they are reported. Returns lines for the restore's output.
 */
export async function redirectOutsideFiles(manifest: Manifest, placed: PlacedConfig, dir: string, owner: { uid: number; gid: number }): Promise<string[]> {
  const { files } = configDetails(manifest.details);
  if (!files.some((f) => f.role === "config_file" && f.insideDataDirectory)) return [];
  const settings = placed.files.filter((f) => f.role === "hba_file" || f.role === "ident_file");
  const includes = files.filter((f) => f.role === "include" && !f.insideDataDirectory);
  const notes = includes.map((f) => `postgresql.conf includes ${f.path}, outside the data directory: this copy reads it from there`);
  if (settings.length === 0) return notes;
  const auto = join(dir, "postgresql.auto.conf");
  await appendFile(auto, [
    "",
    "# Restored by holdfast: the original postgresql.conf names these files outside the data directory;",
    "# this copy uses the restored originals instead of production's.",
    ...settings.map((f) => `${f.role} = ${quoteConf(f.path)}`),
    "",
  ].join("\n"), { mode: 0o600 });
  await chown(auto, owner.uid, owner.gid);
  return [...settings.map((f) => `${f.role} now names ${f.path} (the original named ${f.originalPath})`), ...notes];
}
