import { describe, expect, it } from "vitest";
import { splitStatements } from "../../src/migrate/split.js";
import { checksumOf } from "../../src/migrate/checksum.js";
import { unifiedDiff } from "../../src/migrate/drift.js";
import { findDestructive } from "../../src/migrate/destructive.js";
import { needsNoTransaction } from "../../src/migrate/no-transaction.js";

const texts = (sql: string): string[] => splitStatements(sql).map((s) => s.text);

describe("statement splitting", () => {
  it("never splits inside strings, identifiers, dollar quotes, comments or trigger bodies", () => {
    const sql = [
      "INSERT INTO t VALUES ('a;b', E'it\\'s;', \"odd;name\"); -- trailing; comment",
      "/* block; /* nested; */ still; */ CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$ BEGIN PERFORM 1; RETURN $$x;$$::text::int; END; $body$;",
      "DO $$ BEGIN RAISE NOTICE 'x;'; END $$;",
      "CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET x = CASE WHEN 1 THEN 2 END; DELETE FROM u; END;",
      "-- only a comment;",
      "SELECT 1",
    ].join("\n");
    const out = texts(sql);
    expect(out).toHaveLength(5);
    expect(out[0]).toBe("INSERT INTO t VALUES ('a;b', E'it\\'s;', \"odd;name\")");
    expect(out[1]).toMatch(/\$body\$ BEGIN PERFORM 1; RETURN \$\$x;\$\$::text::int; END; \$body\$$/);
    expect(out[2]).toBe("DO $$ BEGIN RAISE NOTICE 'x;'; END $$");
    expect(out[3]).toMatch(/^CREATE TRIGGER tr .* DELETE FROM u; END$/);
    expect(out[4]).toMatch(/SELECT 1$/);
  });

  it("classifies statements that need no transaction and destructive ones", () => {
    const [cic, alterType, vacuum] = splitStatements("create unique index concurrently if not exists i on t (x); ALTER TYPE mood ADD VALUE 'meh'; VACUUM;");
    expect(needsNoTransaction(cic!, "postgres", 150000)).toBe("CREATE INDEX CONCURRENTLY");
    expect(needsNoTransaction(alterType!, "postgres", 150000)).toBeUndefined();
    expect(needsNoTransaction(alterType!, "postgres", 110000)).toMatch(/ADD VALUE/);
    expect(needsNoTransaction(vacuum!, "sqlite", 3045000)).toBe("VACUUM");
    const [alter] = splitStatements("ALTER TABLE s.t DROP COLUMN a, DROP CONSTRAINT c, ALTER COLUMN b TYPE varchar(5), ADD COLUMN d int");
    expect(findDestructive(alter!).map((d) => [d.kind, d.table, d.column, d.toType])).toEqual([
      ["drop-column", "s.t", "a", undefined],
      ["narrow-type", "s.t", "b", "varchar(5)"],
    ]);
    expect(findDestructive(splitStatements("DELETE FROM t WHERE id = 1")[0]!)).toEqual([]);
  });

  it("checksums ignore line endings and trailing whitespace, and the difference is line by line", () => {
    expect(checksumOf("a  \r\nb\t\r\n\r\n")).toBe(checksumOf("a\nb"));
    expect(checksumOf("a\nb")).not.toBe(checksumOf("a\n b"));
    expect(unifiedDiff("a\nb\nc", "a\nB\nc\nd")).toBe("@@ -2,1 +2,1 @@\n-b\n+B\n@@ -4,0 +4,1 @@\n+d");
  });
});
