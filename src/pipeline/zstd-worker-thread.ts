/**
 * The thread behind zstd-worker.ts: holds one zstd compression context per open stream and
 * compresses each chunk it is sent, answering with the frame bytes that chunk produced. Messages
 * are handled one at a time, in order, so the chunks of one stream stay in order.
 */
import { parentPort } from "node:worker_threads";
import binding from "zstd-napi/binding.js";

export type ToWorker =
  | { op: "open"; id: number; level: number }
  | { op: "data"; id: number; data: Uint8Array }
  | { op: "end"; id: number }
  | { op: "close"; id: number };

export type FromWorker = { id: number; data: Uint8Array } | { id: number; error: string };

const OUT = binding.cStreamOutSize();
const contexts = new Map<number, InstanceType<typeof binding.CCtx>>();

function compress(cctx: InstanceType<typeof binding.CCtx>, input: Buffer, end: boolean): Uint8Array {
  const parts: Buffer[] = [];
  let total = 0;
  let out = Buffer.allocUnsafeSlow(OUT);
  const directive = end ? binding.EndDirective.end : binding.EndDirective.continue;
  for (;;) {
    const [remaining, produced, consumed] = cctx.compressStream2(out, input, directive);
    if (produced > 0) {
      parts.push(out.subarray(0, produced));
      total += produced;
      out = Buffer.allocUnsafeSlow(Math.max(OUT, remaining));
    }
    input = input.subarray(consumed);
    if (input.length === 0 && (!end || remaining === 0)) break;
  }
  // One fresh buffer (never a pooled one) whose memory is handed over, not copied.
  const joined = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    joined.set(p, at);
    at += p.length;
  }
  return joined;
}

parentPort!.on("message", (m: ToWorker) => {
  try {
    if (m.op === "open") {
      const cctx = new binding.CCtx();
      cctx.setParameter(binding.CParameter.compressionLevel, m.level);
      cctx.setParameter(binding.CParameter.checksumFlag, 1);
      contexts.set(m.id, cctx);
      return;
    }
    if (m.op === "close") {
      contexts.delete(m.id);
      return;
    }
    const cctx = contexts.get(m.id);
    if (!cctx) throw new Error(`zstd stream ${m.id} is not open`);
    const input = m.op === "data" ? Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength) : Buffer.alloc(0);
    const data = compress(cctx, input, m.op === "end");
    if (m.op === "end") contexts.delete(m.id);
    parentPort!.postMessage({ id: m.id, data } satisfies FromWorker, [data.buffer as ArrayBuffer]);
  } catch (err) {
    contexts.delete(m.id);
    parentPort!.postMessage({ id: m.id, error: (err as Error).message ?? String(err) } satisfies FromWorker);
  }
});
