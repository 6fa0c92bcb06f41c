import { resolve } from "node:path";
import { HoldfastError } from "../../errors.js";
import { engineKind, type EngineTraits } from "../kind.js";

export interface FilesRef {
  path: string;
}

export const FILES_ENGINE = "files";

/** A folder stored as a tar stream: `files:/etc/myapp`. */
export const filesTraits: EngineTraits<FilesRef> = {
  name: FILES_ENGINE,
  pathTargets: true,
  targetNoun: "folder",

  parse(text: string): FilesRef {
    const raw = text.replace(/^files:(\/\/(?=\/))?/, "");
    if (!raw) throw new HoldfastError("USAGE", `no folder in "${text}" (expected files:/etc/myapp)`);
    return { path: resolve(raw) };
  },

  describe(ref: FilesRef): string {
    return `files:${ref.path}`;
  },
};

export const filesKind = engineKind(filesTraits, async () => (await import("./engine.js")).filesEngine);
