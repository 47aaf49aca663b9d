/**
 * The shipped fail2ban filter (scripts/fail2ban/filter.d/poppin.conf) under Debian's
 * fail2ban-regex, on each form poppin's log takes: multilog's raw @TAI64N file, the same
 * file through Debian's tai64nlocal (9-digit fractions), syslog and rsyslog's RFC 3339 lines,
 * and the journal (backend = systemd): a journald namespace instance started here holds
 * lines tagged "poppin" (what conf --systemd's units and the packaged unit are tagged) and
 * lines of another program, and the filter's journalmatch takes only poppin's.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { applet, POPPIN, requireTool, ROOT, run, tempDir } from "../helpers.ts";

const FILTER = join(ROOT, "scripts", "fail2ban", "filter.d", "poppin.conf");
const dir = tempDir("f2b-forms");
const FAILED = [
  "qmail-popup: warning: authorization failed rip=192.0.2.7 user=joe",
  "poppin popup: warning: authorization failed rip=2001:db8::7 user=ann why=not%20listed",
];
const OTHER = [
  "tcpserver: ok 1 0:127.0.0.1:110 :192.0.2.7::4444",
  "poppin popup: warning: authorization temporary failure rip=192.0.2.8 user=x why=y",
];

/** fail2ban-regex's -o ip output: one address per matched line. */
function matchedIps(log: string): string[] {
  const r = run([requireTool("fail2ban-regex"), "-o", "ip", log, FILTER], { timeoutMs: 60_000 });
  expect(r.code).toBe(0);
  return r.out.trim().split("\n").filter(Boolean);
}

function logFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe("fail2ban filter on every log form", () => {
  // Stamped by our tai64n as multilog's t does.
  const raw = run([applet("tai64n")], { stdin: [...FAILED, ...OTHER].map((l) => `${l}\n`).join("") }).out;

  test("multilog's raw @TAI64N lines", () => {
    expect(raw).toMatch(/^@4[0-9a-f]{23} qmail-popup: /);
    expect(matchedIps(logFile("raw", raw))).toEqual(["192.0.2.7", "2001:db8::7"]);
  });

  test("the same lines through Debian's tai64nlocal (9-digit fractions)", () => {
    const local = run([requireTool("tai64nlocal")], { stdin: raw }).out;
    expect(local).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9} qmail-popup: /);
    expect(matchedIps(logFile("local", local))).toEqual(["192.0.2.7", "2001:db8::7"]);
  });

  test("syslog and rsyslog's RFC 3339 lines", () => {
    const lines = [...FAILED, ...OTHER];
    const classic = lines.map((l) => `Dec  3 05:51:50 mail poppin[4242]: ${l}\n`).join("");
    const rfc3339 = lines.map((l) => `2026-12-03T05:51:50.123456+00:00 mail poppin[4242]: ${l}\n`).join("");
    expect(matchedIps(logFile("syslog", classic))).toEqual(["192.0.2.7", "2001:db8::7"]);
    expect(matchedIps(logFile("rsyslog", rfc3339))).toEqual(["192.0.2.7", "2001:db8::7"]);
  });
});

describe("fail2ban filter on the journal", () => {
  const namespace = `poppintest${process.pid}`;
  const socket = `/run/systemd/journal.${namespace}/socket`;
  const machine = existsSync("/etc/machine-id") ? readFileSync("/etc/machine-id", "latin1").trim() : "";
  let journald: ReturnType<typeof Bun.spawn> | undefined;

  afterAll(() => {
    journald?.kill();
    rmSync(`/run/systemd/journal.${namespace}`, { recursive: true, force: true });
    for (const base of ["/var/log/journal", "/run/log/journal"]) if (machine) rmSync(`${base}/${machine}.${namespace}`, { recursive: true, force: true });
  });

  test("conf --systemd units are tagged poppin, and journalmatch takes poppin's lines only", async () => {
    expect(machine).toMatch(/^[0-9a-f]{32}$/);
    const unitDir = join(dir, "pop3d");
    expect(run([POPPIN, "conf", "--systemd", "pop3d", "/bin/true", "nobody", unitDir]).code).toBe(0);
    expect(readFileSync(join(unitDir, "pop3d.service"), "utf8")).toContain("\nSyslogIdentifier=poppin\n");
    expect(readFileSync(FILTER, "utf8")).toMatch(/^journalmatch = _SYSTEMD_UNIT=poppin-pop3\.service \+ SYSLOG_IDENTIFIER=poppin$/m);

    journald = Bun.spawn(["/lib/systemd/systemd-journald", namespace], { stdio: ["ignore", "ignore", "ignore"] });
    for (let i = 0; i < 100 && !existsSync(socket); i++) await Bun.sleep(50);
    expect(existsSync(socket)).toBe(true);
    // journald's native protocol, one datagram per entry (what a unit's stdout stream becomes).
    const entries = [...FAILED.map((m) => ["poppin", m]), ...OTHER.map((m) => ["poppin", m]), ["sshd", "qmail-popup: warning: authorization failed rip=198.51.100.9 user=x"]];
    const py = `import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\nfor line in sys.stdin.read().split("\\n"):\n  if line:\n    ident,msg=line.split("\\t",1)\n    s.sendto(("MESSAGE=%s\\nSYSLOG_IDENTIFIER=%s\\nPRIORITY=4\\n"%(msg,ident)).encode(),${JSON.stringify(socket)})\n`;
    const send = run(["/usr/bin/python3", "-c", py], { stdin: entries.map(([i, m]) => `${i}\t${m}\n`).join("") });
    expect(send.stderr).toBe("");
    // Persistent when /var/log/journal exists, else volatile under /run.
    const files = ["/var/log/journal", "/run/log/journal"].map((base) => `${base}/${machine}.${namespace}/system.journal`);
    let ips: string[] = [];
    for (let i = 0; i < 40 && ips.length < 2; i++) {
      await Bun.sleep(100);
      const file = files.find((f) => existsSync(f));
      if (file) ips = matchedIps(`systemd-journal[journalfiles=${file}]`);
    }
    expect(ips).toEqual(["192.0.2.7", "2001:db8::7"]);
  }, 60_000);
});
