/** The part of tar-stream 2.x this engine uses (the package ships no types). */
declare module "tar-stream" {
  import type { Readable, Writable } from "node:stream";

  export type EntryType = "file" | "link" | "symlink" | "directory" | "block-device" | "character-device" | "fifo" | "contiguous-file" | "pax-header" | "pax-global-header" | "gnu-long-link-path" | "gnu-long-path";

  export interface Headers {
    name: string;
    size?: number;
    mode?: number;
    mtime?: Date;
    type?: EntryType;
    linkname?: string | null;
    uid?: number;
    gid?: number;
    uname?: string;
    gname?: string;
    pax?: Record<string, string> | null;
  }

  export interface Pack extends Readable {
    entry(headers: Headers, callback?: (err?: Error | null) => void): Writable;
    entry(headers: Headers, buffer: Buffer | string, callback?: (err?: Error | null) => void): Writable;
    finalize(): void;
    /** Set by Pack#destroy (tar-stream 2 keeps its own flag). */
    readonly _destroyed?: boolean;
  }

  export interface Extract extends Writable {
    on(event: "entry", listener: (headers: Headers, stream: Readable, next: (err?: Error) => void) => void): this;
    on(event: string | symbol, listener: (...args: unknown[]) => void): this;
  }

  export function pack(): Pack;
  export function extract(): Extract;
}
