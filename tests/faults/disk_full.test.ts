/**
 * A full disk (a small tmpfs; the tests run as root): deliver answers 111 and leaves
 * nothing in new/ (nor in tmp/); pop3d on a full Maildir still serves, and its QUIT
 * removes exactly the messages marked (a size cache it cannot write is a warning, not a
 * failure); rules compile keeps the old cdb byte for byte. (multilog on a full disk:
 * tests/log/multilog_disk_full.test.ts.)
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { applet, requireTool, run, tempDir } from "../helpers.ts";
import { fillFileSystem, smallFileSystems } from "../small_fs.ts";

const fileSystems = smallFileSystems("diskfull");
afterAll(fileSystems.cleanup);
const smallFs = fileSystems.mount;
const fill = fillFileSystem;

const message = (n: number) => `Subject: m${n}\n\n${"body line\n".repeat(50)}`;

describe("disk full", () => {
  test("deliver: 111, nothing in new/ or tmp/; after space is freed it delivers", () => {
    const fs = smallFs("deliver");
    const md = join(fs, "Maildir");
    expect(run([applet("maildirmake"), md]).code).toBe(0);
    const filler = fill(fs);
    const big = "x".repeat(64 * 1024);
    const r = run([applet("deliver"), md], { stdin: `Subject: big\n\n${big}\n` });
    expect(r.code).toBe(111);
    expect(r.stderr).toMatch(/deliver: fatal: .*(space|disk)/i);
    expect(readdirSync(join(md, "new"))).toEqual([]);
    expect(readdirSync(join(md, "tmp"))).toEqual([]);
    rmSync(filler);
    expect(run([applet("deliver"), md], { stdin: `Subject: big\n\n${big}\n` }).code).toBe(0);
    expect(readdirSync(join(md, "new")).length).toBe(1);
  });

  test("pop3d on a full Maildir: serves, QUIT removes exactly the marked messages", () => {
    const fs = smallFs("pop3d");
    const md = join(fs, "Maildir");
    expect(run([applet("maildirmake"), md]).code).toBe(0);
    // Plain names (no ,S=,W=): the sizes must be counted, and the size cache cannot be written.
    for (let n = 1; n <= 4; n++) writeFileSync(join(md, "new", `170000000${n}.M${n}P1.host`), message(n));
    fill(fs);
    const r = run([applet("qmail-pop3d"), "Maildir"], { cwd: fs, stdin: "STAT\r\nRETR 2\r\nDELE 1\r\nDELE 3\r\nQUIT\r\n" });
    expect(r.code).toBe(0);
    expect(r.out).toContain("+OK 4 ");
    expect(r.out).toContain("Subject: m2");
    expect(r.out).toEndWith("+OK \r\n");
    const left = readdirSync(join(md, "cur")).map((n) => readFileSync(join(md, "cur", n), "latin1").split("\n")[0]).sort();
    expect(left).toEqual(["Subject: m2", "Subject: m4"]);
    expect(readdirSync(join(md, "new"))).toEqual([]);
  });

  test("rules compile on a full disk: exit 111, the old cdb kept byte for byte, no temporary file left", () => {
    const fs = smallFs("rules");
    const cdb = join(fs, "rules.cdb");
    const tmp = join(fs, "rules.tmp");
    const source = join(tempDir("diskfull"), "rules.txt");
    writeFileSync(source, "127.0.0.1:allow,RELAYCLIENT=\"\"\n:deny\n");
    expect(run([applet("tcprules"), cdb, tmp], { stdin: readFileSync(source) }).code).toBe(0);
    const before = readFileSync(cdb);
    fill(fs);
    const many = Array.from({ length: 20000 }, (_, i) => `10.${i >> 8 & 255}.${i & 255}.1:allow,X="${"v".repeat(20)}"`).join("\n");
    const r = run([applet("tcprules"), cdb, tmp], { stdin: `${many}\n` });
    expect(r.code).toBe(111);
    expect(r.stderr).toMatch(/^tcprules: fatal: unable to (write|create)/);
    expect(readFileSync(cdb).equals(before)).toBe(true);
    expect(readdirSync(fs).sort()).toEqual(["filler", "rules.cdb"]);
    // Debian's tcprules in the same place says the same, with the same exit code (it leaves its rules.tmp behind).
    const debian = smallFs("rules-debian");
    expect(run([requireTool("tcprules"), join(debian, "rules.cdb"), join(debian, "rules.tmp")], { stdin: readFileSync(source) }).code).toBe(0);
    fill(debian);
    const d = run([requireTool("tcprules"), join(debian, "rules.cdb"), join(debian, "rules.tmp")], { stdin: `${many}\n` });
    expect(d.code).toBe(111);
    expect(r.stderr.replaceAll(fs, "DIR")).toBe(d.stderr.replaceAll(debian, "DIR"));
    expect(readFileSync(join(debian, "rules.cdb")).equals(before)).toBe(true);
  });
});
