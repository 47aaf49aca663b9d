/**
 * docs/log.md's multilog lines, run as written (by /bin/sh, in a fresh directory) with
 * Debian's multilog and with ours, on the lines serve and popup write: the "fatal lines" filter
 * keeps exactly the fatal lines, and the status file holds the last status line. With `t` the
 * label is part of the line, so a pattern must get past it and the program's name first.
 */
import { expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { binDir, requireTool, ROOT, run, tempDir } from "../helpers.ts";

const INPUT = [
  "tcpserver: status: 1/40",
  "tcpserver: fatal: unable to bind: address already used",
  "qmail-popup: warning: authorization failed rip=192.0.2.7 user=joe mech=USER",
  "poppin serve: fatal: qmail-popup: /etc/poppin/pop3.conf line 4: unknown option \"tls-suport\"",
  "tcpserver: status: 0/40",
  "",
].join("\n");

function docLines(): string[] {
  const page = readFileSync(join(ROOT, "docs", "log.md"), "utf8");
  const block = /```sh\n([\s\S]*?)```/.exec(page)![1]!;
  return block.split("\n").filter((line) => line.startsWith("multilog "));
}

const unlabel = (text: string) => text.replace(/^@[0-9a-f]{24} /gm, "");

test("docs/log.md's filters select what their comments say, with Debian's multilog and ours", () => {
  const lines = docLines();
  const fatal = lines.find((l) => l.includes("fatal"))!;
  const status = lines.find((l) => l.includes("=status"))!;
  expect(fatal).toBeDefined();
  expect(status).toBeDefined();
  for (const [side, path] of [["debian", `${join(requireTool("multilog"), "..")}:/usr/bin:/bin`], ["ours", `${binDir()}:/usr/bin:/bin`]] as const) {
    const dir = join(tempDir(`logdoc-${side}`), "svc");
    mkdirSync(dir);
    const f = run(["/bin/sh", "-c", fatal], { cwd: dir, stdin: INPUT, env: { PATH: path } });
    expect([side, f.code]).toEqual([side, 0]);
    expect([side, unlabel(readFileSync(join(dir, "main", "current"), "latin1"))]).toEqual([side, `${INPUT.split("\n")[1]}\n${INPUT.split("\n")[3]}\n`]);
    expect([side, unlabel(f.stderr)]).toEqual([side, `${INPUT.split("\n")[1]}\n${INPUT.split("\n")[3]}\n`]);
    const s = run(["/bin/sh", "-c", status], { cwd: dir, stdin: INPUT, env: { PATH: path } });
    expect([side, s.code]).toEqual([side, 0]);
    expect(existsSync(join(dir, "status"))).toBe(true);
    expect([side, unlabel(readFileSync(join(dir, "status"), "latin1").replace(/\n+$/, ""))]).toEqual([side, "tcpserver: status: 0/40"]);
  }
});
