import { wholeLines } from "./lines.js";

/**
 * Reading PostgreSQL's COPY text format (https://www.postgresql.org/docs/current/sql-copy.html),
 * the inverse of copyField in pg-copy.ts: one line a row, columns separated by a tab, SQL NULL as
 * \N, and inside a value a backslash escapes the next character (\b \f \n \r \t \v, an octal \NNN
 * or hex \xHH byte, anything else itself). What COPY TO writes uses only the one-letter forms.
 */

const LETTERS: Record<string, string> = { b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\v" };

function unescapeField(field: string): string {
  return field.replace(/\\(?:([0-7]{1,3})|x([0-9a-fA-F]{1,2})|(.))/g, (_m, octal?: string, hex?: string, other?: string) => {
    if (octal !== undefined) return String.fromCharCode(parseInt(octal, 8));
    if (hex !== undefined) return String.fromCharCode(parseInt(hex, 16));
    return LETTERS[other!] ?? other!;
  });
}

/** One line's fields: a string per column, null for \N. */
export function copyTextFields(line: string): (string | null)[] {
  const fields: (string | null)[] = line.split("\t");
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    if (f === "\\N") fields[i] = null;
    else if (f.includes("\\")) fields[i] = unescapeField(f);
  }
  return fields;
}

/**
 * COPY text bytes → batches of rows (every whole line of a chunk), each row its fields in the
 * text forms of their types, mapped by `row`. A stream that ends inside a line throws.
 */
export async function* copyTextBatches<T>(stream: AsyncIterable<Buffer>, row: (fields: (string | null)[]) => T): AsyncIterable<T[]> {
  for await (const lines of wholeLines(stream, { endsInside: () => new Error("COPY output ended inside a row") })) {
    const batch: T[] = new Array(lines.length);
    for (let i = 0; i < lines.length; i++) batch[i] = row(copyTextFields(lines[i]!));
    yield batch;
  }
}
