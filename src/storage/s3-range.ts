import { Transform, type Readable } from "node:stream";
import type { ByteRange } from "./backend.js";

/**
 * HTTP lets a server answer a Range request with more than was asked (a 200 with the whole
 * object, or a wider 206; s3rver widens "bytes=0-0"). Trim what came back to exactly the range,
 * using the Content-Range the server reported (absent = the body starts at byte 0).
 */
export function exactRange(body: Readable, asked: ByteRange, contentRange: string | undefined): Readable {
  const served = /^bytes (\d+)-(\d+)\//.exec(contentRange ?? "");
  const servedStart = served ? Number(served[1]) : 0;
  const servedEnd = served ? Number(served[2]) : Infinity;
  if (servedStart === asked.start && (asked.end === undefined || servedEnd === asked.end)) return body;
  let skip = asked.start - servedStart;
  let left = asked.end === undefined ? Infinity : asked.end - asked.start + 1;
  const trim = new Transform({
    transform(chunk: Buffer, _enc, done) {
      let part = chunk;
      if (skip > 0) {
        const n = Math.min(skip, part.length);
        skip -= n;
        part = part.subarray(n);
      }
      if (left < part.length) part = part.subarray(0, left);
      left -= part.length;
      if (part.length > 0) this.push(part);
      if (left <= 0) {
        this.push(null);
        body.unpipe(trim);
        body.destroy();
      }
      done();
    },
  });
  body.on("error", (err) => trim.destroy(err));
  return body.pipe(trim);
}
