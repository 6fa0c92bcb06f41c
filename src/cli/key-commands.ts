import type { Command } from "commander";
import { HoldfastError, registerSecret } from "../errors.js";
import type { KeyChangeResult } from "../commands/key-change.js";
import type { KeyListResult } from "../commands/key-list.js";
import { prepare, printResult } from "./program.js";
import { askSecret } from "./secret-prompt.js";
import { table } from "./text.js";

/** key passphrase, key rotate, key list (key export is registered beside copy). */
export function registerKeyCommands(key: Command): void {
  key
    .command("passphrase")
    .description("change the passphrase: seal the repository key file again (nothing else is rewritten; crash-safe)")
    .option("--new-passphrase-file <file>", "file holding the new passphrase (env HOLDFAST_NEW_PASSPHRASE_FILE or HOLDFAST_NEW_PASSPHRASE; asked twice on a terminal)")
    .option("--json", "JSON output")
    .action(async (_o, cmd: Command) => {
      const { settings, ctx, opts } = await prepare(cmd);
      const newPassphrase = await newPassphraseFrom(opts.newPassphraseFile as string | undefined);
      const { changePassphrase } = await import("../commands/key-change.js");
      const result = await changePassphrase({ settings, newPassphrase }, ctx);
      printResult(opts, result, (r) => describeChange(r, `changed the passphrase of ${r.repository} (${r.keys} key(s) sealed with it; backups untouched): the old passphrase opens nothing any more`));
    });

  key
    .command("rotate")
    .description("make a new repository key for new backups; older keys stay in the key file so older backups stay readable")
    .option("--lock-wait <duration>", "wait this long for running backups to finish (default: refuse while any runs)")
    .option("--json", "JSON output")
    .action(async (_o, cmd: Command) => {
      const { settings, ctx, opts } = await prepare(cmd);
      const { rotateKey } = await import("../commands/key-change.js");
      const result = await rotateKey({ settings }, ctx);
      printResult(opts, result, (r) => describeChange(r, `new repository key ${r.currentKey.id} (${r.currentKey.recipient}) for ${r.repository}: new backups and WAL are encrypted to it; the ${r.keys - 1} older key(s) still open older backups (export a fresh identity file: \`holdfast key export\`)`));
    });

  key
    .command("list")
    .description("list the repository's keys: id, created, retired, which one new backups use (no passphrase needed)")
    .option("--json", "JSON output")
    .action(async (_o, cmd: Command) => {
      const { settings, ctx, opts } = await prepare(cmd);
      const { listKeys } = await import("../commands/key-list.js");
      printResult(opts, await listKeys(settings, ctx), formatKeys);
    });
}

/** The new passphrase: a file or the environment, never argv; else asked twice on a terminal. */
async function newPassphraseFrom(flagFile: string | undefined): Promise<string> {
  const { passphraseFrom } = await import("../config/load.js");
  const given = await passphraseFrom(flagFile ?? process.env.HOLDFAST_NEW_PASSPHRASE_FILE, process.env.HOLDFAST_NEW_PASSPHRASE, "new passphrase");
  if (given !== undefined) return given;
  if (!process.stdin.isTTY) {
    throw new HoldfastError("USAGE", "no new passphrase given", { hint: "use --new-passphrase-file, HOLDFAST_NEW_PASSPHRASE_FILE or HOLDFAST_NEW_PASSPHRASE, or run on a terminal" });
  }
  const first = await askSecret("new passphrase: ");
  registerSecret(first);
  if (first.length === 0) throw new HoldfastError("USAGE", "the new passphrase is empty");
  if ((await askSecret("new passphrase again: ")) !== first) throw new HoldfastError("USAGE", "the two new passphrases differ; nothing was changed");
  return first;
}

function describeChange(r: KeyChangeResult, headline: string): string {
  const lines = [headline];
  for (const c of r.copies) lines.push(`offsite copy ${c.location}: ${c.status === "updated" ? "key file updated" : c.status === "current" ? "already current" : c.status === "no repository yet" ? "no repository yet (gets the keys with its first copy)" : `NOT updated (${c.error})`}`);
  return lines.join("\n");
}

function formatKeys(r: KeyListResult): string {
  if (r.encryption === "none") return `${r.repository} is not encrypted: it has no keys`;
  const rows = r.keys.map((k) => [k.id, k.current ? "current" : "retired", k.createdAt, k.retiredAt ?? "-", String(k.backups), k.recipient]);
  let out = table(["ID", "STATUS", "CREATED", "RETIRED", "BACKUPS", "PUBLIC KEY"], rows);
  if (r.backupsWithoutKeyId) out += `\n${r.backupsWithoutKeyId} encrypted backup(s) written before backups recorded their key id`;
  if (r.encryption === "recipients") out += "\nencrypted to your own age keys: their identity files are the keys";
  return out;
}
