import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";

/**
 * The daemon's memory across restarts: when each job last ran and how it ended. Used to run a
 * schedule missed while the daemon was down once on start. Written atomically (temp + rename).
 */
const stateSchema = z.object({
  formatVersion: z.literal(1),
  jobs: z.record(z.string(), z.object({ lastRunAt: z.string(), ok: z.boolean(), error: z.string().optional(), lastSuccessAt: z.string().optional() })),
});

export type DaemonState = z.infer<typeof stateSchema>;
export type JobRecord = DaemonState["jobs"][string];

export const STATE_FILE = "holdfast-daemon-state.json";

export function jobKey(database: string, kind: string): string {
  return `${database}/${kind}`;
}

/** The record of copies of one database to one offsite repository (kept beside the job's own). */
export function copyKey(database: string, target: string): string {
  return `${jobKey(database, "copy")} ${target}`;
}

export class StateFile {
  private state: DaemonState = { formatVersion: 1, jobs: {} };
  private writing: Promise<void> = Promise.resolve();

  constructor(readonly dir: string) {}

  get path(): string {
    return join(this.dir, STATE_FILE);
  }

  /** A missing or unreadable file starts empty: the worst case is one extra run. */
  async load(): Promise<void> {
    try {
      const parsed = stateSchema.safeParse(JSON.parse(await readFile(this.path, "utf8")));
      if (parsed.success) this.state = parsed.data;
    } catch {
      // first start
    }
  }

  get(key: string): JobRecord | undefined {
    return this.state.jobs[key];
  }

  record(key: string, value: JobRecord): Promise<void> {
    this.state.jobs[key] = value;
    const text = JSON.stringify(this.state, null, 2) + "\n";
    const next = this.writing.then(async () => {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      const temp = `${this.path}.${process.pid}.tmp`;
      await writeFile(temp, text, { mode: 0o600 });
      await rename(temp, this.path);
    });
    this.writing = next.catch(() => undefined);
    return next;
  }
}
