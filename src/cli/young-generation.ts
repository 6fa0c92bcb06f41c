import { setFlagsFromString } from "node:v8";

/**
 * Keep V8's young generation at its initial size. Streaming a backup allocates fast, and V8 then
 * grows the young generation to 3 × 16 MiB that it never gives back, although almost nothing in
 * it survives (a physical restore: 52 MiB reserved for 17 MiB used); it also frees the buffers
 * of finished chunks only at its scavenges, so a larger young generation holds more of them. With
 * the growth factor at 1 a physical restore of a 200 MB cluster (16 MiB segments) peaked at
 * 134-145 MiB instead of 151-161, for about 10 % more user CPU in scavenges. Only for the
 * commands that read backups back (restore, verify, drill), and for an import into PostgreSQL
 * (which writes COPY text from the export's bytes). An import into SQLite runs V8 size-first
 * instead: there this cost 70 % more CPU (1.5 M rows: 15.1 instead of 8.8 user-seconds) for 20 MB.
 * Called at the start of those commands; V8 reads the flag each time it would grow the young
 * generation.
 */
export function keepYoungGenerationSmall(): void {
  setFlagsFromString("--semi-space-growth-factor=1");
}
