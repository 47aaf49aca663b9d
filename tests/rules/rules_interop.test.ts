/**
 * Interop with Debian's ucspi-tcp: tcprules and ours compile the same generated rules files
 * (valid and malformed) to the same bytes, exit codes and messages; tcprulescheck on our
 * cdb and our check on Debian's cdb print the same thing. The bulk runs our library
 * in-process; a sample goes through the compiled binary under the classic names.
 */
import { describe, expect, test } from "bun:test";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { applet, requireTool, run, tempDir } from "../helpers.ts";
import { ByteSource } from "../../mod/cdb/byte_source.ts";
import { CdbReader } from "../../mod/cdb/reader.ts";
import { PoppinError } from "../../mod/base/errors.ts";
import { rulesCheckReport } from "../../mod/rules/check.ts";
import { compileRulesFile } from "../../mod/rules/compile.ts";
import { prng } from "../cdb/corpus.ts";
import { rulesFile, type RulesFile } from "./corpus.ts";

const FILES = 240;
const CHECKED_FILES = 100;
const sh = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

function envPrefix(q: RulesFile["queries"][number]): string {
  const vars = [["TCPREMOTEIP", q.ip], ["TCPREMOTEHOST", q.host], ["TCPREMOTEINFO", q.info]].filter(([, v]) => v !== undefined);
  // Shell assignments (no env process); the scripts run with an environment of PATH only.
  return vars.map(([k, v]) => `${k}=${sh(v!)}`).join(" ");
}

function ourCompile(input: string, cdb: string, tmp: string): { code: number; stderr: string } {
  const fd = openSync(input, "r");
  try {
    compileRulesFile(new ByteSource(fd), cdb, tmp);
    return { code: 0, stderr: "" };
  } catch (err) {
    if (!(err instanceof PoppinError)) throw err;
    return { code: err.exitCode, stderr: `tcprules: fatal: ${err.message}\n` };
  } finally {
    closeSync(fd);
  }
}

const read = (path: string): string => readFileSync(path, "latin1");
const CLEAN_ENV = { PATH: process.env.PATH ?? "/usr/bin:/bin" };

describe("tcprules/tcprulescheck interop with Debian ucspi-tcp", () => {
  requireTool("tcprules");
  requireTool("tcprulescheck");
  const dir = tempDir("rules-interop");
  for (const sub of ["in", "ref", "our", "check"]) mkdirSync(join(dir, sub));
  const rng = prng(4242);
  const files: RulesFile[] = [];
  const script = ["set -u", `cd ${sh(dir)}`];
  for (let n = 0; n < FILES; n++) {
    const f = rulesFile(rng, n % 4 === 3);
    files.push(f);
    writeFileSync(join(dir, "in", String(n)), f.text);
    script.push(`tcprules ref/${n}.cdb ref/${n}.tmp < in/${n} 2> ref/${n}.err; echo $? > ref/${n}.rc`);
  }
  // Debian's compile runs first (below); the checks then run Debian's tcprulescheck on OUR cdbs.
  writeFileSync(join(dir, "compile.sh"), script.join("\n") + "\nexit 0\n");
  const compileBatch = run(["bash", join(dir, "compile.sh")], { timeoutMs: 60_000 });
  const ours = files.map((_, n) => ourCompile(join(dir, "in", String(n)), join(dir, "our", `${n}.cdb`), join(dir, "our", `${n}.tmp`)));

  test(`${FILES} rules files (${FILES / 4} with a malformed line): same cdb bytes, exit codes, messages`, () => {
    expect(compileBatch.code).toBe(0);
    let valid = 0;
    for (let n = 0; n < FILES; n++) {
      const theirs = { code: Number(read(join(dir, "ref", `${n}.rc`))), stderr: read(join(dir, "ref", `${n}.err`)) };
      expect({ n, code: ours[n].code }).toEqual({ n, code: theirs.code });
      expect(theirs.code).toBe(files[n].badLine ? 100 : 0);
      if (theirs.code === 0) {
        valid++;
        expect({ n, same: Buffer.compare(readFileSync(join(dir, "our", `${n}.cdb`)), readFileSync(join(dir, "ref", `${n}.cdb`))) }).toEqual({ n, same: 0 });
      } else {
        // The original's wording first, then our line number.
        const original = theirs.stderr.replace(/\n$/, "");
        expect({ n, head: ours[n].stderr.slice(0, original.length) }).toEqual({ n, head: original });
        expect(ours[n].stderr.slice(original.length)).toStartWith(` (line ${files[n].badLine}`);
        expect(existsSync(join(dir, "our", `${n}.cdb`))).toBe(false);
        expect(existsSync(join(dir, "our", `${n}.tmp`))).toBe(false);
      }
    }
    expect(valid).toBeGreaterThanOrEqual(170);
  });

  test("tcprulescheck on our cdbs and our check on Debian's cdbs print the same", () => {
    const checks: { n: number; i: number; q: RulesFile["queries"][number] }[] = [];
    const lines = ["set -u", `cd ${sh(dir)}`];
    for (let n = 0; n < FILES && checks.length < CHECKED_FILES * 6; n++) {
      if (files[n].badLine) continue;
      files[n].queries.slice(0, 8).forEach((q, i) => {
        checks.push({ n, i, q });
        lines.push(`${envPrefix(q)} tcprulescheck our/${n}.cdb > check/${n}.${i}.out 2>&1; echo $? >> check/${n}.${i}.out`);
      });
    }
    const r = run(["bash", "-c", lines.join("\n") + "\nexit 0"], { timeoutMs: 60_000, env: CLEAN_ENV });
    expect(r.code).toBe(0);
    const kinds = new Set<string>();
    for (const c of checks) {
      const theirs = readFileSync(join(dir, "check", `${c.n}.${c.i}.out`));
      const reader = CdbReader.open(join(dir, "ref", `${c.n}.cdb`));
      const report = rulesCheckReport(reader, c.q.ip ?? "0.0.0.0", c.q.host, c.q.info);
      reader.close();
      const mine = Buffer.concat([report, Buffer.from("0\n")]);
      expect({ ...c, out: mine.toString("latin1") }).toEqual({ ...c, out: theirs.toString("latin1") });
      kinds.add(theirs.toString("latin1").split("\n").slice(-3, -2)[0]);
    }
    expect(checks.length).toBeGreaterThanOrEqual(600);
    expect(kinds).toContain("deny connection");
    expect(kinds).toContain("allow connection");
  });

  test("the compiled tcprules and tcprulescheck: same bytes, output, exit codes, messages", () => {
    const sample = Array.from({ length: 12 }, (_, i) => i * 19 + 3);
    const lines = ["set -u", `cd ${sh(dir)}`, "mkdir -p bin"];
    const queries: { n: number; i: number }[] = [];
    for (const n of sample) {
      lines.push(`${sh(applet("tcprules"))} bin/${n}.cdb bin/${n}.tmp < in/${n} 2> bin/${n}.err; echo $? > bin/${n}.rc`);
      if (files[n].badLine) continue;
      files[n].queries.slice(0, 3).forEach((q, i) => {
        queries.push({ n, i });
        lines.push(`${envPrefix(q)} ${sh(applet("tcprulescheck"))} ref/${n}.cdb > bin/${n}.${i}.check 2>&1; echo $? >> bin/${n}.${i}.check`);
        lines.push(`${envPrefix(q)} tcprulescheck bin/${n}.cdb > bin/${n}.${i}.ref 2>&1; echo $? >> bin/${n}.${i}.ref`);
      });
    }
    const r = run(["bash", "-c", lines.join("\n") + "\nexit 0"], { timeoutMs: 60_000, env: CLEAN_ENV });
    expect(r.code).toBe(0);
    for (const n of sample) {
      const theirs = { code: Number(read(join(dir, "ref", `${n}.rc`))), err: read(join(dir, "ref", `${n}.err`)) };
      const mine = { code: Number(read(join(dir, "bin", `${n}.rc`))), err: read(join(dir, "bin", `${n}.err`)) };
      expect({ n, code: mine.code }).toEqual({ n, code: theirs.code });
      expect(mine.err.startsWith(theirs.err.replace(/\n$/, ""))).toBe(true);
      if (theirs.code === 0) expect(Buffer.compare(readFileSync(join(dir, "bin", `${n}.cdb`)), readFileSync(join(dir, "ref", `${n}.cdb`)))).toBe(0);
    }
    expect(queries.length).toBeGreaterThan(10);
    for (const q of queries) {
      expect({ ...q, out: read(join(dir, "bin", `${q.n}.${q.i}.check`)) }).toEqual({ ...q, out: read(join(dir, "bin", `${q.n}.${q.i}.ref`)) });
    }
  });

  test("a failed compile leaves the existing cdb untouched, as tcprules does", () => {
    const work = tempDir("rules-keep");
    const cdb = join(work, "rules.cdb");
    expect(run([applet("tcprules"), cdb, join(work, "rules.tmp")], { stdin: "1.2.3.4:allow\n" }).code).toBe(0);
    const before = readFileSync(cdb);
    const bad = run([applet("tcprules"), cdb, join(work, "rules.tmp")], { stdin: "5.6.7.8:deny\n# fine\n1.2.3.4:alow\n" });
    expect(bad.code).toBe(100);
    expect(bad.stderr).toBe("tcprules: fatal: unable to parse this line: 1.2.3.4:alow (line 3: expected allow or deny after the colon)\n");
    expect(Buffer.compare(readFileSync(cdb), before)).toBe(0);
    expect(readdirSync(work)).toEqual(["rules.cdb"]);
    // Unwritable temporary file: 111 and the same message as Debian's.
    const theirs = run(["tcprules", cdb, "/nonexistent-dir/rules.tmp"], { stdin: "1.2.3.4:deny\n" });
    const mine = run([applet("tcprules"), cdb, "/nonexistent-dir/rules.tmp"], { stdin: "1.2.3.4:deny\n" });
    expect({ code: mine.code, err: mine.stderr }).toEqual({ code: theirs.code, err: theirs.stderr });
    expect(mine.code).toBe(111);
    expect(Buffer.compare(readFileSync(cdb), before)).toBe(0);
    // As `poppin rules compile`, the prefix changes, the wording does not.
    const poppin = run([applet("rules"), "compile", cdb, join(work, "rules.tmp")], { stdin: "x:y\n" });
    expect(poppin.code).toBe(100);
    expect(poppin.stderr).toStartWith("poppin rules: fatal: unable to parse this line: x:y (line 1");
  });

  test("rules.tmp on another file system than rules.cdb: Debian's words (cross-device link), 111, the old cdb kept", () => {
    const work = tempDir("rules-xdev");
    // /dev/shm is its own tmpfs: rename(2) from the temporary directory to it fails with EXDEV.
    const other = mkdtempSync("/dev/shm/poppin-rules-xdev-");
    try {
      expect(statSync(other).dev).not.toBe(statSync(work).dev);
      const cdbs = { theirs: join(other, "ref.cdb"), mine: join(other, "rules.cdb") };
      for (const cdb of Object.values(cdbs)) expect(run(["tcprules", cdb, `${cdb}.tmp`], { stdin: ":allow\n" }).code).toBe(0);
      const before = readFileSync(cdbs.theirs);
      const runs = {
        theirs: run(["tcprules", cdbs.theirs, join(work, "ref.tmp")], { stdin: "1.2.3.4:deny\n" }),
        mine: run([applet("tcprules"), cdbs.mine, join(work, "rules.tmp")], { stdin: "1.2.3.4:deny\n" }),
      };
      expect(runs.theirs.stderr).toBe(`tcprules: fatal: unable to move ${join(work, "ref.tmp")} to ${cdbs.theirs}: cross-device link\n`);
      expect({ code: runs.mine.code, err: runs.mine.stderr.replace("rules.", "ref.").replace("rules.", "ref.") })
        .toEqual({ code: runs.theirs.code, err: runs.theirs.stderr });
      expect(runs.mine.code).toBe(111);
      expect(Buffer.compare(readFileSync(cdbs.mine), before)).toBe(0);
      expect(Buffer.compare(readFileSync(cdbs.theirs), before)).toBe(0);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  test("standard input closed (`<&-`): 111 and Debian's message, the old cdb kept; /dev/null still compiles empty", () => {
    const work = tempDir("rules-closed");
    const cdb = join(work, "rules.cdb");
    const tmp = join(work, "rules.tmp");
    const refCdb = join(work, "ref.cdb");
    const refTmp = join(work, "ref.tmp");
    for (const [prog, out] of [[applet("tcprules"), cdb], ["tcprules", refCdb]]) {
      expect(run([prog, out, `${out}.tmp`], { stdin: "1.2.3.4:allow\n" }).code).toBe(0);
    }
    const before = readFileSync(cdb);
    const closed = (cmd: string[]) => run(["bash", "-c", `${cmd.map(sh).join(" ")} <&-`]);
    const theirs = closed(["tcprules", refCdb, refTmp]);
    const mine = closed([applet("tcprules"), cdb, tmp]);
    expect(theirs.code).toBe(111);
    expect({ code: mine.code, err: mine.stderr }).toEqual({ code: theirs.code, err: theirs.stderr });
    expect(mine.stderr).toBe("tcprules: fatal: unable to read input: file descriptor not open\n");
    expect(Buffer.compare(readFileSync(refCdb), before)).toBe(0);
    expect(Buffer.compare(readFileSync(cdb), before)).toBe(0);
    // Debian's leaves an empty rules.tmp behind; ours creates none.
    expect(existsSync(tmp)).toBe(false);
    const poppin = closed([applet("rules"), "compile", cdb, tmp]);
    expect({ code: poppin.code, err: poppin.stderr }).toEqual({ code: 111, err: "poppin rules: fatal: unable to read input: file descriptor not open\n" });
    expect(Buffer.compare(readFileSync(cdb), before)).toBe(0);
    // An open but empty input is a valid (empty) rules file, for both.
    const emptyTheirs = run(["bash", "-c", `tcprules ${sh(refCdb)} ${sh(refTmp)} < /dev/null`]);
    const emptyMine = run(["bash", "-c", `${sh(applet("tcprules"))} ${sh(cdb)} ${sh(tmp)} < /dev/null`]);
    expect({ code: emptyMine.code, err: emptyMine.stderr }).toEqual({ code: emptyTheirs.code, err: emptyTheirs.stderr });
    expect(emptyMine.code).toBe(0);
    expect(Buffer.compare(readFileSync(cdb), readFileSync(refCdb))).toBe(0);
    expect(readFileSync(cdb).length).toBe(2048);
  });

  test("usage, missing and corrupt files: the same text and exit codes as Debian's", () => {
    const work = tempDir("rules-usage");
    const truncated = join(work, "t.cdb");
    const full = readFileSync(join(dir, "ref", `${files.findIndex((f) => !f.badLine)}.cdb`));
    writeFileSync(truncated, full.subarray(0, full.length - 9));
    const cases = [["tcprules"], ["tcprules", "x.cdb"], ["tcprulescheck"], ["tcprulescheck", "/nonexistent/rules.cdb"], ["tcprulescheck", truncated]];
    for (const c of cases) {
      const theirs = run(["bash", "-c", `TCPREMOTEIP=10.1.2.3 TCPREMOTEHOST=a.example.com ${c.map(sh).join(" ")} < /dev/null`]);
      const mine = run(["bash", "-c", `TCPREMOTEIP=10.1.2.3 TCPREMOTEHOST=a.example.com ${[applet(c[0]), ...c.slice(1)].map(sh).join(" ")} < /dev/null`]);
      expect({ c, code: mine.code, err: mine.stderr, out: mine.out }).toEqual({ c, code: theirs.code, err: theirs.stderr, out: theirs.out });
    }
  });

  test("a rule line without a colon (a typo): skipped as tcprules skips it; tcprules silent, poppin rules compile warns", () => {
    const work = tempDir("rules-typo");
    const text = "# clients\n127.0.0.1 allow\n  # indented comment\n\n   \n192.0.2.=deny\n:deny\n";
    const compile = (cmd: string[], name: string) => {
      const r = run([...cmd, join(work, `${name}.cdb`), join(work, `${name}.tmp`)], { stdin: text });
      return { code: r.code, stderr: r.stderr, cdb: readFileSync(join(work, `${name}.cdb`)) };
    };
    const theirs = compile([requireTool("tcprules")], "theirs");
    expect(theirs.code).toBe(0);
    expect(theirs.stderr).toBe("");
    expect(compile([applet("tcprules")], "classic")).toEqual(theirs);
    const mine = compile([applet("rules"), "compile"], "mine");
    expect(mine.code).toBe(0);
    expect(mine.cdb).toEqual(theirs.cdb);
    expect(mine.stderr).toBe(
      'poppin rules: warning: line 2 has no colon and is ignored, as tcprules ignores it: "127.0.0.1 allow"\n' +
      'poppin rules: warning: line 6 has no colon and is ignored, as tcprules ignores it: "192.0.2.=deny"\n');
  });

  test("`rules check CDB IP HOST INFO` takes the connection from arguments", () => {
    const n = files.findIndex((f) => !f.badLine && f.queries.some((q) => q.host && q.info));
    const q = files[n].queries.find((x) => x.host && x.info)!;
    const cdb = join(dir, "ref", `${n}.cdb`);
    const viaEnv = run(["bash", "-c", `${envPrefix(q)} tcprulescheck ${sh(cdb)}`], { env: CLEAN_ENV });
    const viaArgs = run([applet("rules"), "check", cdb, q.ip!, q.host!, q.info!], { env: {} });
    expect(viaArgs.code).toBe(0);
    expect(viaArgs.out).toBe(viaEnv.out);
  });
});
