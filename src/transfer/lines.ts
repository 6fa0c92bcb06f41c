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
