/**
 * docs/rules.md's example rules file compiles, as written, with Debian's tcprules and with
 * ours to the same cdb, and tcprulescheck reads its environment instruction back (it once
 * held `PATH=/x:/y/`, a line both tcprules refuse: '/' is then the quote character).
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { applet, requireTool, ROOT, run, tempDir } from "../helpers.ts";

test("the rules example of docs/rules.md compiles with Debian's tcprules and ours, to the same bytes", () => {
  const page = readFileSync(join(ROOT, "docs", "rules.md"), "utf8");
  const block = /writes the cdb tcpserver[^\n]*\n\n```\n([\s\S]*?)```/.exec(page)?.[1];
  expect(block).toBeDefined();
  const dir = tempDir("rulesdoc");
  const debian = run([requireTool("tcprules"), join(dir, "d.cdb"), join(dir, "d.tmp")], { stdin: block! });
  const ours = run([applet("tcprules"), join(dir, "o.cdb"), join(dir, "o.tmp")], { stdin: block! });
  expect([debian.code, debian.stderr]).toEqual([0, ""]);
  expect([ours.code, ours.stderr]).toEqual([0, ""]);
  expect(Buffer.compare(readFileSync(join(dir, "o.cdb")), readFileSync(join(dir, "d.cdb")))).toBe(0);
  const check = run([requireTool("tcprulescheck"), join(dir, "o.cdb")], { env: { TCPREMOTEIP: "1.2.3.15" } });
  expect(check.out).toBe("rule 1.2.3.15:\nset environment variable GREETING=hi there\nset environment variable PATH=/bin:/usr/bin\nallow connection\n");
});
