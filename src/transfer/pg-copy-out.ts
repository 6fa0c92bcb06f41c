import type { Duplex } from "node:stream";

/**
 * `COPY … TO STDOUT` read straight off the connection: the bytes of its CopyData messages, a
 * batch per read of the socket, with the messages' 5-byte frames taken out where the bytes lie
 * (payloads are moved up in the same buffer, nothing is allocated or copied twice).
 *
 * Submitted like any query (`client.query(new CopyOut(sql))`): while it runs, it reads the
 * connection in place of pg's own parser, as pg-copy-streams does, and hands the connection back
 * from the message after CopyDone (CommandComplete, ReadyForQuery), or from an ErrorResponse,
 * which pg then reports to it. The iteration ends when the server has said ReadyForQuery, and
 * throws the server's error. A batch is only valid until the next one is asked for.
 *
 * Back-pressure: the socket is paused while MAX_QUEUED batches wait to be read.
 */

interface PgConnection {
  stream: Duplex;
  query(text: string): void;
}

type DataHandler = (chunk: Buffer) => void;

const COPY_DATA = 0x64; // d
const COPY_DONE = 0x63; // c
const COPY_OUT_RESPONSE = 0x48; // H
/** Messages the server may send between CopyData ones, skipped (NoticeResponse, ParameterStatus, NotificationResponse). */
const INTERSPERSED = new Set([0x4e, 0x53, 0x41]);
const MAX_QUEUED = 8;

export class CopyOut implements AsyncIterable<Buffer> {
  /** Rows the server reports it sent (CommandComplete). */
  rowCount = 0;
  private connection?: PgConnection;
  private pgHandler?: DataHandler;
  private readonly onData: DataHandler = (chunk) => this.parse(chunk);
  private readonly queue: Buffer[] = [];
  private paused = false;
  /** Header bytes of a message split between reads. */
  private head = Buffer.alloc(5);
  private headAt = 0;
  private code = 0;
  /** Bytes of the current message's body still to come. */
  private left = 0;
  private finished = false;
  private failure?: Error;
  private stopped = false;
  private wake?: () => void;

  constructor(readonly text: string) {}

  /** Called by pg when the query's turn comes. */
  submit(connection: PgConnection): void {
    this.connection = connection;
    const stream = connection.stream;
    const listeners = stream.listeners("data") as DataHandler[];
    if (listeners.length !== 1) throw new Error(`the connection has ${listeners.length} data readers, not pg's one`);
    this.pgHandler = listeners[0]!;
    stream.removeListener("data", this.pgHandler);
    stream.on("data", this.onData);
    connection.query(this.text);
  }

  private parse(chunk: Buffer): void {
    let p = 0;
    let w = 0;
    const n = chunk.length;
    while (p < n) {
      if (this.left > 0) {
        const take = Math.min(this.left, n - p);
        if (this.code === COPY_DATA) {
          if (w !== p) chunk.copyWithin(w, p, p + take);
          w += take;
        }
        this.left -= take;
        p += take;
        continue;
      }
      const headStart = p;
      while (this.headAt < 5 && p < n) this.head[this.headAt++] = chunk[p++]!;
      if (this.headAt < 5) break;
      this.headAt = 0;
      const code = this.head[0]!;
      if (code !== COPY_DATA && code !== COPY_DONE && code !== COPY_OUT_RESPONSE && !INTERSPERSED.has(code)) {
        // ErrorResponse (or anything unexpected): pg reads it from its header on.
        const from = p - headStart === 5 ? chunk.subarray(headStart) : Buffer.concat([this.head, chunk.subarray(p)]);
        this.deliver(chunk, w);
        this.handBack(from);
        return;
      }
      this.code = code;
      this.left = this.head.readUInt32BE(1) - 4;
      if (code === COPY_DONE) {
        this.deliver(chunk, w);
        this.handBack(chunk.subarray(p + this.left));
        this.left = 0;
        return;
      }
    }
    this.deliver(chunk, w);
  }

  private deliver(chunk: Buffer, w: number): void {
    if (w === 0 || this.stopped) return;
    this.queue.push(chunk.subarray(0, w));
    if (this.queue.length >= MAX_QUEUED && !this.paused) {
      this.paused = true;
      this.connection!.stream.pause();
    }
    this.poke();
  }

  /** The connection back to pg's parser, starting with `rest`. */
  private handBack(rest: Buffer): void {
    const stream = this.connection!.stream;
    stream.removeListener("data", this.onData);
    stream.on("data", this.pgHandler!);
    if (this.paused) {
      this.paused = false;
      stream.resume();
    }
    if (rest.length) this.pgHandler!(rest);
  }

  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  handleCommandComplete(msg: { text?: string }): void {
    const m = /COPY (\d+)/.exec(msg?.text ?? "");
    if (m) this.rowCount = Number(m[1]);
  }

  handleError(err: Error): void {
    this.failure ??= err;
    // An error pg raises on its own (the connection ended) may come while this still reads.
    if (this.connection && this.connection.stream.listeners("data").includes(this.onData)) this.handBack(Buffer.alloc(0));
    this.finished = true;
    this.poke();
  }

  handleReadyForQuery(): void {
    this.finished = true;
    this.poke();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    try {
      for (;;) {
        const next = this.queue.shift();
        if (next) {
          if (this.paused && this.queue.length < MAX_QUEUED / 2) {
            this.paused = false;
            this.connection!.stream.resume();
          }
          yield next;
          continue;
        }
        if (this.failure) throw this.failure;
        if (this.finished) return;
        await new Promise<void>((r) => (this.wake = r));
      }
    } finally {
      // Stopped early: what still comes is dropped, and the socket keeps flowing so the connection can end.
      this.stopped = true;
      this.queue.length = 0;
      if (this.paused) {
        this.paused = false;
        this.connection!.stream.resume();
      }
    }
  }
}
