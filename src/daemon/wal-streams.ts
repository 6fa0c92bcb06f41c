import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { openRepository } from "../commands/open-repository.js";
import { WalArchive } from "../repository/wal-archive.js";
import { WalStream, type ArchiveTarget } from "../wal/stream.js";
import type { DaemonConfig } from "./config.js";
import { WalStreamMetrics } from "./wal-stream-metrics.js";

/** The daemon's WAL streams (wal_stream: per database): started once, stopped on shutdown. */
export class WalStreams {
  private readonly streams = new Map<string, WalStream>();
  private readonly metrics: WalStreamMetrics;
  private target?: ReturnType<ArchiveTarget>;

  constructor(registry: Registry, private config: DaemonConfig, private readonly log: Logger) {
    this.metrics = new WalStreamMetrics(registry);
  }

  start(): void {
    for (const db of this.config.databases) {
      if (!db.walStream) continue;
      const stream = new WalStream({ ...db.walStream, tempDir: this.config.settings.tmpDir }, () => this.archiveTarget(), this.log.child({ database: db.name, job: "wal_stream" }));
      this.streams.set(db.name, stream);
      this.metrics.track(db.name, () => stream.status);
      stream.start();
    }
  }

  /** Streams keep running as configured at start; later files go to the reloaded repository. */
  reloaded(next: DaemonConfig): void {
    const streamed = (c: DaemonConfig) => JSON.stringify(c.databases.map((d) => [d.name, d.sourceUri, d.walStream && { ...d.walStream, server: undefined }]));
    if (streamed(next) !== streamed(this.config)) this.log.warn("wal_stream changed: restart the daemon to apply it");
    this.config = next;
    this.target = undefined;
  }

  /** Each stream stops pg_receivewal, then ships what it holds, the partial segment included. */
  async stop(): Promise<void> {
    await Promise.all([...this.streams.values()].map((s) => s.stop()));
  }

  /** The repository streamed WAL goes to, opened once (again after a failure or a reload). */
  private archiveTarget(): ReturnType<ArchiveTarget> {
    const { settings } = this.config;
    this.target ??= openRepository(settings, "no").then(({ repo }) => ({
      archive: new WalArchive(repo.backend),
      settings: { compression: settings.compression, recipients: repo.recipients },
    }));
    const target = this.target;
    target.catch(() => {
      if (this.target === target) this.target = undefined;
    });
    return target;
  }
}
