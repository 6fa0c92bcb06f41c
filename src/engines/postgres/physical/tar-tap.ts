import { Transform, type Readable, type TransformCallback } from "node:stream";
import { abandonVerified } from "../../../pipeline/verified.js";

const BLOCK = 512;
/** Only the end of backup_manifest is kept: its WAL-Ranges entry sits there, after the file list. */
const MANIFEST_TAIL = 64 * 1024;

/**
 * A pass-through stage that reads the ustar headers of pg_basebackup's tar as it flows by and keeps
 * two members: backup_label (start LSN, timeline; the first member) and the end of backup_manifest
 * (WAL-Ranges with the end LSN; injected as the last member). Bytes are never changed or held back.
 */
export class BackupTarTap extends Transform {
  backupLabel: string | undefined;
  private manifestTail: Buffer = Buffer.alloc(0);
  private header: Buffer = Buffer.alloc(0);
  /** Bytes of the current member's data (plus padding) still to pass before the next header. */
  private remaining = 0;
  private capturing: "label" | "manifest" | undefined;
  private captureLeft = 0;
  private captured: Buffer[] = [];

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - at);
        if (this.capturing && this.captureLeft > 0) this.capture(chunk.subarray(at, at + Math.min(take, this.captureLeft)));
        this.remaining -= take;
        at += take;
        if (this.remaining === 0) this.finishMember();
        continue;
      }
      const need = BLOCK - this.header.length;
      const piece = chunk.subarray(at, at + need);
      this.header = this.header.length ? Buffer.concat([this.header, piece]) : Buffer.from(piece);
      at += piece.length;
      if (this.header.length === BLOCK) {
        this.startMember(this.header);
        this.header = Buffer.alloc(0);
      }
    }
    done(null, chunk);
  }

  private startMember(h: Buffer): void {
    if (h.every((b) => b === 0)) return; // end-of-archive blocks
    const name = cString(h.subarray(0, 100));
    const prefix = cString(h.subarray(345, 500));
    const full = prefix ? `${prefix}/${name}` : name;
    const size = parseSize(h.subarray(124, 136));
    this.remaining = Math.ceil(size / BLOCK) * BLOCK;
    this.capturing = full === "backup_label" ? "label" : full === "backup_manifest" ? "manifest" : undefined;
    this.captureLeft = size;
    this.captured = [];
    if (this.remaining === 0) this.finishMember();
  }

  private capture(bytes: Buffer): void {
    this.captureLeft -= bytes.length;
    if (this.capturing === "label") this.captured.push(Buffer.from(bytes));
    else {
      const joined = Buffer.concat([this.manifestTail, bytes]);
      this.manifestTail = joined.length > MANIFEST_TAIL ? Buffer.from(joined.subarray(joined.length - MANIFEST_TAIL)) : joined;
    }
  }

  private finishMember(): void {
    if (this.capturing === "label") this.backupLabel = Buffer.concat(this.captured).toString("utf8");
    this.capturing = undefined;
    this.captured = [];
  }

  /** WAL-Ranges of the injected backup_manifest: one entry per timeline the backup's WAL spans. */
  walRanges(): { timeline: number; startLsn: string; endLsn: string }[] {
    const text = this.manifestTail.toString("utf8");
    const out: { timeline: number; startLsn: string; endLsn: string }[] = [];
    const re = /\{\s*"Timeline":\s*(\d+),\s*"Start-LSN":\s*"([0-9A-F]+\/[0-9A-F]+)",\s*"End-LSN":\s*"([0-9A-F]+\/[0-9A-F]+)"\s*\}/g;
    for (let m = re.exec(text); m; m = re.exec(text)) out.push({ timeline: Number(m[1]), startLsn: m[2]!, endLsn: m[3]! });
    return out;
  }
}

function cString(b: Buffer): string {
  const end = b.indexOf(0);
  return b.subarray(0, end < 0 ? b.length : end).toString("utf8");
}

/** Octal, or GNU base-256 for members of 8 GiB and more. */
function parseSize(field: Buffer): number {
  if (field[0]! & 0x80) {
    let n = 0;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return n;
  }
  const text = cString(field).trim();
  return text ? parseInt(text, 8) : 0;
}

/** Owner fields of a tar's first member header (pg_basebackup writes the server's uid and "postgres"). */
export interface TarOwner {
  uid: number;
  gid: number;
  uname: string;
}

/**
 * Read the first 512-byte header of a tar stream, then let go of the stream and of its checks: the
 * owner only steers the preflight; the restore's own read checks every byte, and the owner again.
 */
export async function readTarOwner(stream: Readable): Promise<TarOwner | undefined> {
  let head = Buffer.alloc(0);
  try {
    for await (const chunk of stream) {
      head = Buffer.concat([head, chunk]);
      if (head.length >= BLOCK) break;
    }
  } finally {
    abandonVerified(stream);
  }
  if (head.length < BLOCK || head.subarray(0, BLOCK).every((b) => b === 0)) return undefined;
  return { uid: parseSize(head.subarray(108, 116)), gid: parseSize(head.subarray(116, 124)), uname: cString(head.subarray(265, 297)) };
}
