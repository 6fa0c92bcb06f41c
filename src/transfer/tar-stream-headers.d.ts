/** tar-stream 2.x's header encoder (the package ships no types); the writer the portable export file uses. */
declare module "tar-stream/headers.js" {
  export interface EncodeHeader {
    name: string;
    size: number;
    mode: number;
    mtime: Date;
    type: "file" | "pax-header";
    uid: number;
    gid: number;
  }
  /** One 512-byte ustar header, or null when the name needs a pax header. */
  export function encode(header: EncodeHeader): Buffer | null;
  /** The body of a pax header carrying `name` as its path. */
  export function encodePax(opts: { name: string }): Buffer;
}
