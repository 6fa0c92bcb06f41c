import { open } from "node:fs/promises";

/**
 * Damages a file for certain: the byte at `at` is inverted. Writing a fixed value instead leaves
 * the file whole whenever it already held that value (1 time in 256 for compressed data).
 */
export async function flipByte(path: string, at: number): Promise<void> {
  const fh = await open(path, "r+");
  try {
    const byte = Buffer.alloc(1);
    const { bytesRead } = await fh.read(byte, 0, 1, at);
    if (bytesRead !== 1) throw new Error(`${path} has no byte at ${at}`);
    byte[0] = byte[0]! ^ 0xff;
    await fh.write(byte, 0, 1, at);
  } finally {
    await fh.close();
  }
}
