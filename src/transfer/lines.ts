import { StringDecoder } from "node:string_decoder";

/**
 * Bytes → the whole lines of each chunk (UTF-8 characters split across chunks are joined; the
 * newline is dropped), a batch per chunk. `onChunk` sees every chunk first (hashing, size checks);
 * a stream that ends inside a line throws `endsInside()`.
 */
export async function* wholeLines(stream: AsyncIterable<Buffer>, options: { onChunk?: (chunk: Buffer) => void; endsInside: () => Error }): AsyncIterable<string[]> {
  const decoder = new StringDecoder("utf8");
  let rest = "";
  for await (const chunk of stream) {
    options.onChunk?.(chunk);
    const text = rest + decoder.write(chunk);
    const end = text.lastIndexOf("\n");
    if (end < 0) {
      rest = text;
      continue;
    }
    rest = text.slice(end + 1);
    yield text.slice(0, end).split("\n");
  }
  if (rest + decoder.end()) throw options.endsInside();
}

/**
 * Bytes → runs of whole lines, as bytes, each ending in its newline: a line split between chunks
 * is joined alone, and the lines a chunk holds whole are handed on where they are, not copied. A
 * run is only valid until the next one is asked for. `onChunk` and `endsInside` as for wholeLines.
 */
export async function* wholeLineBytes(stream: AsyncIterable<Buffer>, options: { onChunk?: (chunk: Buffer) => void; endsInside: () => Error }): AsyncIterable<Buffer> {
  let rest: Buffer | undefined;
  for await (const chunk of stream) {
    options.onChunk?.(chunk);
    const end = chunk.lastIndexOf(0x0a);
    if (end < 0) {
      rest = rest ? Buffer.concat([rest, chunk]) : Buffer.from(chunk);
      continue;
    }
    let from = 0;
    if (rest) {
      from = chunk.indexOf(0x0a) + 1;
      yield Buffer.concat([rest, chunk.subarray(0, from)]);
    }
    const tail = end + 1 < chunk.length ? Buffer.from(chunk.subarray(end + 1)) : undefined;
    if (from <= end) yield chunk.subarray(from, end + 1);
    rest = tail;
  }
  if (rest?.length) throw options.endsInside();
}
