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
 *
 * Limits: NoticeResponse and NotificationResponse messages that come during the COPY are dropped
 * (as pg-copy-streams drops them). The connection is taken over when pg submits the query, at the
 * previous query's ReadyForQuery; a notice or notification cut off by the end of that same read
 * would be left half in pg's parser, which pg-copy-streams does not guard against either.
 */

interface PgConnection {
  stream: Duplex;
  query(text: string): void;
  sendCopyFail?(message: string): void;
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

  /** Set by pg when the query was given one, or wrapped around a query_timeout: called once, at the end. */
  callback?: (err: Error | null) => void;

  constructor(readonly text: string) {}

  /** Called by pg when the query's turn comes; an Error returned is reported to the query by pg. */
  submit(connection: PgConnection): Error | undefined {
    this.connection = connection;
    const stream = connection.stream;
    const listeners = stream.listeners("data") as DataHandler[];
    if (listeners.length !== 1) return new Error(`the connection has ${listeners.length} data readers, not pg's one`);
    this.pgHandler = listeners[0]!;
    stream.removeListener("data", this.pgHandler);
    stream.on("data", this.onData);
    connection.query(this.text);
    return undefined;
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
    this.flow();
    if (rest.length) this.pgHandler!(rest);
  }

  /** The socket flowing again, if this paused it. */
  private flow(): void {
    if (!this.paused) return;
    this.paused = false;
    this.connection!.stream.resume();
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
    // An error pg raises on its own (a query_timeout, the connection lost) while this still reads
    // the socket, maybe inside a frame: pg's parser cannot take over there, so the connection ends.
    if (this.connection?.stream.listeners("data").includes(this.onData)) this.connection.stream.destroy(err);
    this.end(err);
  }

  handleReadyForQuery(): void {
    this.end(this.failure ?? null);
  }

  /** Any other answer (the SQL held more than the COPY): the iteration fails with it, at ReadyForQuery. */
  private unexpected(what: string): void {
    this.failure ??= new Error(`COPY TO STDOUT was answered with ${what}: one COPY statement was expected`);
  }
  handleRowDescription(): void {
    this.unexpected("rows");
  }
  handleDataRow(): void {
    this.unexpected("rows");
  }
  handleEmptyQuery(): void {
    this.unexpected("an empty query");
  }
  handlePortalSuspended(): void {
    this.unexpected("a suspended portal");
  }
  handleCopyData(): void {
    this.unexpected("a second COPY");
  }
  handleCopyInResponse(connection: PgConnection): void {
    this.unexpected("a COPY FROM STDIN");
    connection.sendCopyFail?.("holdfast reads one COPY TO STDOUT");
  }

  private end(err: Error | null): void {
    if (this.finished) return;
    this.finished = true;
    const cb = this.callback;
    this.callback = undefined;
    cb?.(err);
    this.poke();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    try {
      for (;;) {
        const next = this.queue.shift();
        if (next) {
          if (this.queue.length < MAX_QUEUED / 2) this.flow();
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
      this.flow();
    }
  }
}
