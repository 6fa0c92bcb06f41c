/**
 * Split SQL text into statements at top-level semicolons: single-quoted strings (with '' and, for
 * E'…', backslash escapes), double-quoted identifiers, dollar-quoted bodies ($$…$$, $fn$…$fn$),
 * line comments and nested block comments never split; neither does a SQLite trigger body
 * (CREATE TRIGGER … BEGIN … END). Statements holding only comments are dropped.
 */
export interface SqlStatement {
  /** The statement's text without its terminating semicolon, comments kept. */
  text: string;
  /** The text with comments removed and whitespace collapsed (for classification). */
  bare: string;
}

export function splitStatements(sql: string): SqlStatement[] {
  const out: SqlStatement[] = [];
  let start = 0;
  let bare = "";
  let i = 0;
  const n = sql.length;
  const push = (end: number): void => {
    const text = sql.slice(start, end).trim();
    const b = bare.replace(/\s+/g, " ").trim();
    if (b !== "") out.push({ text, bare: b });
    bare = "";
  };
  while (i < n) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (c === "-" && next === "-") {
      const eol = sql.indexOf("\n", i);
      i = eol < 0 ? n : eol;
      bare += " ";
      continue;
    }
    if (c === "/" && next === "*") {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        const pair = sql.slice(i, i + 2);
        depth += pair === "/*" ? 1 : pair === "*/" ? -1 : 0;
        i += pair === "/*" || pair === "*/" ? 2 : 1;
      }
      bare += " ";
      continue;
    }
    if (c === "'" || c === '"') {
      const escapes = c === "'" && /[eE]$/.test(sql.slice(Math.max(0, i - 1), i)) && !/[A-Za-z0-9_]/.test(sql[i - 2] ?? "");
      let j = i + 1;
      while (j < n) {
        if (escapes && sql[j] === "\\") j += 2;
        else if (sql[j] === c && sql[j + 1] === c) j += 2;
        else if (sql[j] === c) break;
        else j++;
      }
      bare += sql.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (c === "$") {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i, i + 64));
      if (tag && !/[A-Za-z0-9_]/.test(sql[i - 1] ?? "")) {
        const close = sql.indexOf(tag[0], i + tag[0].length);
        const end = close < 0 ? n : close + tag[0].length;
        bare += sql.slice(i, end);
        i = end;
        continue;
      }
    }
    if (c === ";" && !insideTriggerBody(bare)) {
      push(i);
      start = i + 1;
      i++;
      continue;
    }
    bare += c;
    i++;
  }
  push(n);
  return out;
}

/** A SQLite CREATE TRIGGER whose BEGIN has not met its END yet. */
function insideTriggerBody(bare: string): boolean {
  if (!/^\s*CREATE\s+(TEMP\s+|TEMPORARY\s+)?TRIGGER\b/i.test(bare)) return false;
  const words = bare.toUpperCase().match(/\b(BEGIN|CASE|END)\b/g) ?? [];
  let depth = 0;
  let opened = false;
  for (const w of words) {
    if (w === "END") depth--;
    else {
      depth++;
      opened = true;
    }
  }
  return !opened || depth > 0;
}
