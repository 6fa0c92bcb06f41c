import { chmod, mkdir } from "node:fs/promises";
import type { Logger } from "pino";
import { connect, type PgRef } from "../engines/postgres/connection.js";
import { ensureSlot, receiverFailure, receiverName, startReceiver, type RunningReceiver } from "../engines/postgres/physical/receivewal.js";
import { terminate } from "../engines/postgres/tools.js";
import type { WalArchive, WalWriteSettings } from "../repository/wal-archive.js";
import { parseLsn } from "./names.js";
import { shipAll, shipCompleted } from "./spool.js";

export interface WalStreamOptions {
  server: PgRef;
  slot: string;
  synchronous: boolean;
  spoolDir: string;
  tempDir: string;
}

/** Where shipped files go; asked for each round, so a reload's repository is used. */
export type ArchiveTarget = () => Promise<{ archive: WalArchive; settings: WalWriteSettings }>;

export interface WalStreamStatus {
  up: boolean;
  restarts: number;
  /** What the server last heard the receiver wrote (pg_stat_replication.write_lsn), and when. */
  receivedLsn?: number;
  receivedAt?: number;
  lastShippedAt?: number;
  shippedFiles: number;
  lastError?: string;
}

const SHIP_EVERY_MS = 250;
const POLL_EVERY_MS = 2_000;
const BACKOFF_MS = [500, 1_000, 2_000, 5_000, 10_000, 30_000];
const STOP_GRACE_MS = 10_000;

/**
 * Streams one cluster's WAL into the repository: supervises pg_receivewal (slot created once,
 * restarted with backoff when it exits), ships every completed file from its spool, and on stop
 * ships the partial segment too. RPO is then what pg_receivewal has received, not archive_timeout.
 */
export class WalStream {
  readonly status: WalStreamStatus = { up: false, restarts: 0, shippedFiles: 0 };
  private receiver?: RunningReceiver;
  private stopping = false;
  private supervising: Promise<void> = Promise.resolve();
  private shipping: Promise<void> = Promise.resolve();
  private timers: NodeJS.Timeout[] = [];
  private wake?: () => void;

  constructor(private readonly options: WalStreamOptions, private readonly target: ArchiveTarget, private readonly log: Logger) {}

  start(): void {
    this.supervising = this.supervise();
    this.timers.push(setInterval(() => void this.ship(false), SHIP_EVERY_MS));
    this.timers.push(setInterval(() => void this.poll(), POLL_EVERY_MS));
  }

  private async supervise(): Promise<void> {
    const { spoolDir, slot } = this.options;
    let failures = 0;
    let slotReady = false;
    while (!this.stopping) {
      const began = Date.now();
      try {
        await mkdir(spoolDir, { recursive: true, mode: 0o700 });
        await chmod(spoolDir, 0o700);
        if (!slotReady) {
          await ensureSlot(this.options.server, this.options);
          slotReady = true;
        }
        this.receiver = await startReceiver(this.options.server, this.options);
        // stop() came while it was starting: it found nothing to stop, so stop it here.
        if (this.stopping) this.receiver.tool.child.kill("SIGINT");
        this.status.up = true;
        this.log.info({ pid: this.receiver.tool.child.pid, slot, spool: spoolDir, synchronous: this.options.synchronous }, "pg_receivewal started");
        const { code, stderr } = await this.receiver.exited;
        this.receiver = undefined;
        this.status.up = false;
        if (this.stopping) break;
        throw receiverFailure(code, stderr, this.options.server);
      } catch (err) {
        this.status.up = false;
        if (this.stopping) break;
        if (Date.now() - began > 60_000) failures = 0;
        const delay = BACKOFF_MS[Math.min(failures, BACKOFF_MS.length - 1)]!;
        failures++;
        this.status.restarts++;
        this.status.lastError = (err as Error).message;
        this.log.error({ error: this.status.lastError, retryInMs: delay }, "WAL stream stopped; restarting");
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    }
  }

  /** One shipping round at a time; `final` also ships the partial segment. */
  private ship(final: boolean): Promise<void> {
    this.shipping = this.shipping.then(async () => {
      try {
        const { archive, settings } = await this.target();
        const r = final ? await shipAll(this.options.spoolDir, archive, settings) : await shipCompleted(this.options.spoolDir, archive, settings);
        if (r.shipped.length > 0 || r.partial) {
          this.status.shippedFiles += r.shipped.length;
          this.status.lastShippedAt = Date.now();
          this.log.info({ files: r.shipped, partial: r.partial }, "streamed WAL archived");
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT" && !final) return; // spool not created yet
        this.status.lastError = (err as Error).message;
        this.log.error({ error: this.status.lastError, spool: this.options.spoolDir }, "could not archive streamed WAL; kept in the spool, retrying");
      }
    });
    return this.shipping;
  }

  /** What the server says the receiver has written to the spool (the metric's "last received"). */
  private async poll(): Promise<void> {
    if (!this.status.up) return;
    const client = await connect(this.options.server, "wal stream status").catch(() => undefined);
    if (!client) return;
    try {
      const { rows } = await client.query<{ write_lsn: string | null; reply_time: Date | null }>("SELECT write_lsn::text AS write_lsn, reply_time FROM pg_stat_replication WHERE application_name = $1 ORDER BY reply_time DESC NULLS LAST LIMIT 1", [receiverName(this.options.slot)]);
      const row = rows[0];
      if (row?.write_lsn) this.status.receivedLsn = parseLsn(row.write_lsn);
      if (row?.reply_time) this.status.receivedAt = row.reply_time.getTime();
    } catch {
      // a status query is best effort: the stream itself is what matters
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** Stop pg_receivewal (SIGINT: it flushes and keeps its partial), then ship everything, partial included. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    this.wake?.();
    const receiver = this.receiver;
    if (receiver) {
      receiver.tool.child.kill("SIGINT");
      const timer = setTimeout(() => terminate(receiver.tool.child), STOP_GRACE_MS);
      await receiver.exited;
      clearTimeout(timer);
    }
    await this.supervising;
    await this.ship(true);
  }
}
