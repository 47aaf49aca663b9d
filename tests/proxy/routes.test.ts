/** `poppin routes`: the route table's cdb, its errors, and rendezvous placement. */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CdbReader } from "../../mod/cdb/reader.ts";
import { findRoute, formatBackend, parseBackend, rendezvousPick, type Backend } from "../../mod/proxy/routes.ts";
import { POPPIN, requireTool, run, tempDir } from "../helpers.ts";

const TABLE = [
  "# backends of example.org",
  "Alice:127.0.0.2:1110",
  "bob:[::1]:110",
  "",
  "*:127.0.0.3:110,127.0.0.4:110",
  "",
].join("\n");

function compile(dir: string, text: string, name = "routes.cdb") {
  return run([POPPIN, "routes", "compile", join(dir, name), join(dir, `${name}.tmp`)], { stdin: text });
}

describe("routes compile", () => {
  test("the same input gives the same bytes, exactly what cdbmake writes for those records", () => {
    const dir = tempDir("routes");
    expect(compile(dir, TABLE, "a.cdb").code).toBe(0);
    expect(compile(dir, TABLE, "b.cdb").code).toBe(0);
    const a = readFileSync(join(dir, "a.cdb"));
    expect(Buffer.compare(a, readFileSync(join(dir, "b.cdb")))).toBe(0);
    // Debian's cdbmake on the records we document (=login -> backend, * -> list) gives the same file.
    const records = [["=alice", "127.0.0.2:1110"], ["=bob", "[::1]:110"], ["*", "127.0.0.3:110,127.0.0.4:110"]];
    const input = records.map(([k, v]) => `+${k!.length},${v!.length}:${k}->${v}\n`).join("") + "\n";
    const made = run([requireTool("cdbmake"), join(dir, "c.cdb"), join(dir, "c.tmp")], { stdin: input });
    expect(made.code).toBe(0);
    expect(Buffer.compare(a, readFileSync(join(dir, "c.cdb")))).toBe(0);
  });

  test("a malformed line names its line number and leaves the old table in place", () => {
    const dir = tempDir("routes");
    expect(compile(dir, TABLE).code).toBe(0);
    const before = readFileSync(join(dir, "routes.cdb"));
    for (const [bad, line, why] of [
      ["carol:127.0.0.2\n", 2, "not HOST:PORT"],
      ["carol:127.0.0.2:99999\n", 2, "port 99999"],
      ["carol:127.0.0.2:110,127.0.0.3:110\n", 2, "exactly one backend"],
      ["*:127.0.0.5:110\n", 2, "a second * line (the first is line 1)"],
      ["ALICE:127.0.0.9:110\n", 2, "already routed on line 1"],
      ["car ol:127.0.0.2:110\n", 2, "space"],
    ] as const) {
      const text = line === 2 && bad.startsWith("ALICE") ? `alice:127.0.0.2:110\n${bad}` : `*:127.0.0.3:110\n${bad}`;
      const r = compile(dir, text);
      expect(r.code).toBe(100);
      expect(r.stderr).toContain("poppin routes: fatal: unable to parse this line: ");
      expect(r.stderr).toContain(`(line ${line}: `);
      expect(r.stderr).toContain(why);
      expect(Buffer.compare(readFileSync(join(dir, "routes.cdb")), before)).toBe(0);
      expect(existsSync(join(dir, "routes.cdb.tmp"))).toBe(false);
    }
  });

  test("routes check: exact logins in any case, the rest hashed, unknown without a * line", () => {
    const dir = tempDir("routes");
    expect(compile(dir, TABLE).code).toBe(0);
    const cdb = join(dir, "routes.cdb");
    const alice = run([POPPIN, "routes", "check", cdb, "ALICE"]);
    expect(alice.code).toBe(0);
    expect(alice.out).toBe("ALICE: 127.0.0.2:1110 (exact)\n");
    expect(run([POPPIN, "routes", "check", cdb, "bob"]).out).toBe("bob: [::1]:110 (exact)\n");
    const carol = run([POPPIN, "routes", "check", cdb, "carol"]);
    const expected = rendezvousPick([{ host: "127.0.0.3", port: 110 }, { host: "127.0.0.4", port: 110 }], Buffer.from("carol"));
    expect(carol.out).toBe(`carol: ${formatBackend(expected)} (hashed over 2 backends)\n`);
    expect(compile(dir, "alice:127.0.0.2:110\n", "only.cdb").code).toBe(0);
    const none = run([POPPIN, "routes", "check", join(dir, "only.cdb"), "carol"]);
    expect(none.code).toBe(100);
    expect(none.out).toBe("carol: no route\n");
  });
});

describe("routes: odd tables and logins", () => {
  const check = (cdb: string, login: string) => {
    const r = run([POPPIN, "routes", "check", cdb, login]);
    return { code: r.code, out: Buffer.from(r.stdout).toString("utf8") };
  };
  test("routes check finds a UTF-8 login where the proxy does (the login's octets, as the client sends them)", () => {
    const dir = tempDir("routes");
    expect(compile(dir, "jürgen@example.org:127.0.0.9:110\n*:127.0.0.3:110,127.0.0.4:110\n").code).toBe(0);
    const cdb = join(dir, "routes.cdb");
    const exact = check(cdb, "jürgen@example.org");
    expect(exact.code).toBe(0);
    expect(exact.out).toBe("jürgen@example.org: 127.0.0.9:110 (exact)\n");
    // ASCII letters only are folded: a locale never moves a user
    expect(check(cdb, "JüRGEN@example.org").out).toBe("JüRGEN@example.org: 127.0.0.9:110 (exact)\n");
    const reader = CdbReader.open(cdb);
    try {
      for (const login of ["zoë", "ñandú@example.org", "müller", "café", "Łukasz"]) {
        const lib = findRoute(reader, Buffer.from(login, "utf8"))!;
        expect(check(cdb, login).out).toBe(`${login}: ${formatBackend(lib.backend)} (hashed over 2 backends)\n`);
      }
    } finally {
      reader.close();
    }
  });

  test("an empty table routes nobody; a * line with no backend, an empty one or a repeated one is an error", () => {
    const dir = tempDir("routes");
    expect(compile(dir, "").code).toBe(0);
    expect(run([POPPIN, "routes", "check", join(dir, "routes.cdb"), "joe"]).code).toBe(100);
    const before = readFileSync(join(dir, "routes.cdb"));
    for (const [bad, why] of [
      ["*:\n", "is not HOST:PORT"],
      ["*:127.0.0.3:110,\n", "is not HOST:PORT"],
      ["*:127.0.0.3:110,127.0.0.3:110\n", "listed twice"],
      ["joe:127.0.0.3:110\0\n", "is not 1-65535"],
    ] as const) {
      const r = compile(dir, `# routes\n${bad}`);
      expect(r.code).toBe(100);
      expect(r.stderr).toContain("(line 2: ");
      expect(r.stderr).toContain(why);
      expect(Buffer.compare(readFileSync(join(dir, "routes.cdb")), before)).toBe(0);
    }
  });
});

describe("routes compile into the table itself", () => {
  test("naming the table as the temporary file is refused before anything is truncated: the table stays, even for a malformed input", () => {
    const dir = tempDir("routes");
    expect(compile(dir, TABLE).code).toBe(0);
    const cdb = join(dir, "routes.cdb");
    const before = readFileSync(cdb);
    for (const [text, tmp] of [["bad line\n", cdb], ["carol:127.0.0.2:110\n", cdb], ["bad line\n", `${dir}/./routes.cdb`]] as const) {
      const r = run([POPPIN, "routes", "compile", cdb, tmp], { stdin: text });
      expect(r.code).toBe(111);
      expect(r.stderr).toBe(`poppin routes: fatal: unable to create ${tmp}: it is ${cdb} itself (name a temporary file beside it)\n`);
      expect(Buffer.compare(readFileSync(cdb), before)).toBe(0);
    }
    expect(run([POPPIN, "routes", "check", cdb, "alice"]).out).toBe("alice: 127.0.0.2:1110 (exact)\n");
  });
});

describe("rendezvous placement", () => {
  const backend = (t: string) => parseBackend(t) as Backend;
  const two = [backend("10.0.0.1:110"), backend("10.0.0.2:110")];
  const three = [...two, backend("10.0.0.3:110")];
  const logins = Array.from({ length: 10_000 }, (_, i) => Buffer.from(`user${i}@example.org`));

  test("adding a third backend moves about a third of 10,000 logins, all of them to the new one", () => {
    let moved = 0;
    const perBackend = new Map<string, number>();
    for (const login of logins) {
      const before = formatBackend(rendezvousPick(two, login));
      const after = formatBackend(rendezvousPick(three, login));
      perBackend.set(after, (perBackend.get(after) ?? 0) + 1);
      if (before !== after) {
        moved++;
        expect(after).toBe("10.0.0.3:110");
      }
    }
    expect(moved).toBeGreaterThan(3000);
    expect(moved).toBeLessThan(3700);
    for (const n of perBackend.values()) expect(n).toBeGreaterThan(3000);
  });

  test("the compiled table places logins as the library does, lower-cased", () => {
    const dir = tempDir("routes");
    expect(compile(dir, "*:10.0.0.1:110,10.0.0.2:110,10.0.0.3:110\n").code).toBe(0);
    const reader = CdbReader.open(join(dir, "routes.cdb"));
    try {
      for (const login of logins.slice(0, 200)) {
        const route = findRoute(reader, Buffer.from(login.toString().toUpperCase()));
        expect(route?.kind).toBe("hashed");
        expect(formatBackend(route!.backend)).toBe(formatBackend(rendezvousPick(three, login)));
      }
    } finally {
      reader.close();
    }
  });
});
