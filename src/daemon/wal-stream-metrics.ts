import { Gauge, type Registry } from "prom-client";
import type { WalStreamStatus } from "../wal/stream.js";

/** Per-database gauges of the WAL stream, read from each stream's status at scrape time. */
export class WalStreamMetrics {
  private readonly streams = new Map<string, () => WalStreamStatus>();

  constructor(registry: Registry) {
    const define = (name: string, help: string, value: (s: WalStreamStatus) => number | undefined): void => {
      const streams = this.streams;
      new Gauge({
        name,
        help,
        labelNames: ["database"],
        registers: [registry],
        collect(this: Gauge) {
          this.reset();
          for (const [database, status] of streams) {
            const v = value(status());
            if (v !== undefined) this.set({ database }, v);
          }
        },
      });
    };
    define("holdfast_wal_stream_up", "1 while pg_receivewal runs for this database", (s) => (s.up ? 1 : 0));
    define("holdfast_wal_stream_restarts", "Times pg_receivewal stopped unexpectedly and was restarted since the daemon started", (s) => s.restarts);
    define("holdfast_wal_stream_received_lsn_bytes", "Last WAL position the receiver reported written to its spool (byte position of the LSN)", (s) => s.receivedLsn);
    define("holdfast_wal_stream_last_received_timestamp_seconds", "When the receiver last reported to the server (Unix time)", (s) => (s.receivedAt === undefined ? undefined : s.receivedAt / 1000));
    define("holdfast_wal_stream_last_shipped_timestamp_seconds", "When a streamed WAL file last reached the repository (Unix time)", (s) => (s.lastShippedAt === undefined ? undefined : s.lastShippedAt / 1000));
  }

  track(database: string, status: () => WalStreamStatus): void {
    this.streams.set(database, status);
  }
}
