/**
 * poppin conf's output and refusals: qmail-conf's usage lines and exit codes, unknown
 * accounts, an existing directory left alone; the files of each kind; systemd units that
 * pass systemd-analyze verify and serve POP3 under systemd-socket-activate.
 */
import { describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { applet, POPPIN, requireTool, run, startServiceDir, tempDir } from "../helpers.ts";
import { freePort, Pop3Client } from "./pop3_client.ts";

const work = tempDir("conf");
chmodSync(work, 0o755);

describe("arguments and refusals", () => {
  test("qmail-pop3d-conf and qmail-qmqpd-conf usage lines, exit 100", () => {
    const a = run([applet("qmail-pop3d-conf")]);
    expect(a.stderr).toBe("qmail-pop3d-conf: usage: qmail-pop3d-conf checkpassword logacct /pop3d [ ip ]\n");
    expect(a.code).toBe(100);
    const b = run([applet("qmail-qmqpd-conf"), "nobody", "nobody", "relative/dir"]);
    expect(b.stderr).toBe("qmail-qmqpd-conf: usage: qmail-qmqpd-conf qmqpdacct logacct /qmqpd [ ip ]\n");
    expect(b.code).toBe(100);
    const c = run([POPPIN, "conf", "pop4d"]);
    expect(c.stderr).toStartWith("poppin conf: usage: poppin conf [--systemd]");
    const relative = run([POPPIN, "conf", "pop3d", "/bin/true", "nobody", "pop3d"]);
    expect(relative.stderr).toStartWith("poppin conf: the directory must be an absolute path, not pop3d\npoppin conf: usage: poppin conf [--systemd]");
    expect(relative.code).toBe(100);
    expect(c.code).toBe(100);
  });

  test("unknown accounts: exit 111, nothing made", () => {
    const dir = join(work, "never");
    const a = run([applet("qmail-pop3d-conf"), "/bin/checkpassword", "no-such-log", dir]);
    expect(a.stderr).toBe("qmail-pop3d-conf: fatal: unknown account no-such-log\n");
    expect(a.code).toBe(111);
    const b = run([applet("qmail-qmqpd-conf"), "no-such-qmqpd", "nobody", dir]);
    expect(b.stderr).toBe("qmail-qmqpd-conf: fatal: unknown account no-such-qmqpd\n");
    expect(b.code).toBe(111);
    expect(existsSync(dir)).toBe(false);
  });

  test("a binary other accounts cannot run (a clone under a 0700 directory such as /root): the service is made, with a warning", () => {
    const hidden = join(tempDir("conf-hidden"), "clone");
    mkdirSync(join(hidden, "dist"), { recursive: true });
    chmodSync(join(hidden, ".."), 0o700);
    const copy = join(hidden, "dist", "poppin");
    copyFileSync(POPPIN, copy);
    chmodSync(copy, 0o755);
    const dir = join(work, "from-hidden");
    const r = run([copy, "conf", "pop3d", "/bin/true", "nobody", dir]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`poppin conf: warning: the service runs ${copy} as the log account and as each mail user, who cannot run it: `);
    expect(r.stderr).toContain("(mode 700) cannot be entered by other accounts; install poppin first (poppin install)");
    expect(readFileSync(join(dir, "run"), "utf8")).toContain(copy);
    // The same from a binary everyone may run: no warning.
    const open = run([POPPIN, "conf", "pop3d", "/bin/true", "nobody", join(work, "from-open")]);
    expect(open.code).toBe(0);
    expect(open.stderr).toBe("");
  });

  test("a CHECKPASSWORD path that does not exist: the service is made, with a warning naming it", () => {
    const r = run([applet("qmail-pop3d-conf"), "/nonexistent/checkpassword", "nobody", join(work, "no-checkpassword")]);
    expect(r.code).toBe(0);
    expect(r.stderr).toStartWith("qmail-pop3d-conf: warning: /nonexistent/checkpassword does not exist: the service will not start until it does");
    expect(readFileSync(join(work, "no-checkpassword", "run"), "utf8")).toContain("/nonexistent/checkpassword");
  });

  test("an existing directory is refused and left as it was", () => {
    const dir = join(work, "exists");
    mkdirSync(dir);
    writeFileSync(join(dir, "run"), "mine\n");
    const r = run([applet("qmail-pop3d-conf"), "/bin/checkpassword", "nobody", dir]);
    expect(r.stderr).toBe(`qmail-pop3d-conf: fatal: unable to create ${dir}: file already exists\n`);
    expect(r.code).toBe(111);
    expect(readdirSync(dir)).toEqual(["run"]);
    expect(readFileSync(join(dir, "run"), "utf8")).toBe("mine\n");
  });
});

describe("daemontools layout", () => {
  test("pop3d: files, modes, owners, scripts", () => {
    const dir = join(work, "pop3d");
    expect(run([applet("qmail-pop3d-conf"), "/usr/local/bin/checkpassword", "nobody", dir, "192.0.2.1", "--host", "pop.example.org"]).code).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(["Makefile", "add-client", "env", "log", "run", "tcp", "tcp.cdb"]);
    expect(statSync(dir).mode & 0o7777).toBe(0o3755);
    expect(statSync(join(dir, "run")).mode & 0o777).toBe(0o755);
    expect(statSync(join(dir, "log", "main")).uid).toBe(65534);
    expect(statSync(join(dir, "log", "status")).uid).toBe(65534);
    const runText = readFileSync(join(dir, "run"), "utf8");
    // qmail-conf's knobs: the run script reads each setting from env/ (envdir); empty = default.
    expect(runText).toContain(`exec ${POPPIN} envdir ./env /bin/sh -c '\n`);
    expect(runText).toContain(`  exec ${POPPIN} serve -vDHR \\\n`);
    expect(runText).toContain(`    -x tcp.cdb -- "\${IP-0}" "\${PORT-110}" \\\n`);
    expect(runText).toContain(`    ${POPPIN} popup "\${POPUPHOST-pop.example.org}" \\\n    /usr/local/bin/checkpassword \\\n`);
    expect(runText).toContain(`    ${POPPIN} pop3d \${SPOOLDIR+"--spool-dir=$SPOOLDIR"} "\${MAILDIRNAME-Maildir}"\n'\n`);
    expect(run(["sh", "-n", join(dir, "run")]).code).toBe(0);
    const knobs = Object.fromEntries(readdirSync(join(dir, "env")).map((f) => [f, readFileSync(join(dir, "env", f), "utf8")]));
    expect(knobs).toEqual({ IP: "192.0.2.1\n", PORT: "110\n", CONCURRENCY: "", BACKLOG: "", LOCALNAME: "0\n", POPUPHOST: "pop.example.org\n", MAILDIRNAME: "", SPOOLDIR: "" });
    expect(readFileSync(join(dir, "log", "run"), "utf8")).toBe(`#!/bin/sh\nexec ${POPPIN} setuidgid nobody ${POPPIN} log t ./main\n`);
    expect(readFileSync(join(dir, "Makefile"), "utf8")).toBe(`SHELL=/bin/sh\n\ntcp.cdb: tcp\n\t${POPPIN} rules compile tcp.cdb tcp.tmp < tcp\n`);
    // The compiled rules are what Debian's tcprules makes of the same file.
    const theirs = join(work, "theirs.cdb");
    const t = run(["sh", "-c", `${requireTool("tcprules")} ${theirs} ${theirs}.tmp < ${join(dir, "tcp")}`]);
    expect(t.code).toBe(0);
    expect(readFileSync(join(dir, "tcp.cdb"))).toEqual(readFileSync(theirs));
  });

  test("pop3s: serve --tls on 995, CERTFILE and KEYFILE in env/", () => {
    const dir = join(work, "pop3s");
    expect(run([POPPIN, "conf", "pop3s", "--cert", "/etc/x.pem", "--key", "/etc/x.key", "/bin/checkpassword", "nobody", dir]).code).toBe(0);
    expect(readFileSync(join(dir, "run"), "utf8")).toContain("serve --tls -vDHR \\\n");
    expect(readFileSync(join(dir, "run"), "utf8")).toContain(`-x tcp.cdb -- "\${IP-0}" "\${PORT-995}" \\\n`);
    expect(readFileSync(join(dir, "env", "PORT"), "utf8")).toBe("995\n");
    expect(readFileSync(join(dir, "env", "CERTFILE"), "utf8")).toBe("/etc/x.pem\n");
    expect(readFileSync(join(dir, "env", "KEYFILE"), "utf8")).toBe("/etc/x.key\n");
  });

  test("qmqpd: envuidgid QMQPDACCT, serve (no -U: qmqpd splits itself) -l HOST on 628, qmqpd; rules deny all", () => {
    const dir = join(work, "qmqpd");
    expect(run([applet("qmail-qmqpd-conf"), "daemon", "nobody", dir, "--host", "mx.example.org"]).code).toBe(0);
    const text = readFileSync(join(dir, "run"), "utf8");
    expect(text).toContain(`exec ${POPPIN} envuidgid daemon ${POPPIN} envdir ./env /bin/sh -c '\n`);
    expect(text).toContain(`  exec ${POPPIN} serve -vDHR \\\n`);
    expect(text).toContain(`    -x tcp.cdb -- "\${IP-0}" "\${PORT-628}" \\\n    ${POPPIN} qmqpd\n'\n`);
    expect(run(["sh", "-n", join(dir, "run")]).code).toBe(0);
    const knobs = Object.fromEntries(readdirSync(join(dir, "env")).map((f) => [f, readFileSync(join(dir, "env", f), "utf8")]));
    expect(knobs).toEqual({ IP: "0\n", PORT: "628\n", CONCURRENCY: "", BACKLOG: "", LOCALNAME: "mx.example.org\n" });
    const check = run([requireTool("tcprulescheck"), join(dir, "tcp.cdb")], { env: { TCPREMOTEIP: "127.0.0.1" } });
    expect(check.out).toBe("rule :\ndeny connection\n");
  });
});

describe("conf options instead of hand edits", () => {
  test("--mbox --spool-dir: env/MAILDIRNAME is mbox: and SPOOLDIR the spool directory; a login reads the spool", async () => {
    const spools = join(work, "spools");
    mkdirSync(spools);
    chmodSync(spools, 0o1777);
    const home = join(work, "mbox-home");
    mkdirSync(home);
    writeFileSync(join(spools, "demo"), "From a@b Thu Dec  3 05:00:00 2026\nSubject: one\n\nbody\n\nFrom a@b Thu Dec  3 05:00:01 2026\nSubject: two\n\nbody\n");
    expect(run(["chown", "-R", "65534:65534", home, join(spools, "demo")]).code).toBe(0);
    chmodSync(join(spools, "demo"), 0o600);
    const userdb = join(work, "mbox-users");
    expect(run([applet("users"), "-f", userdb, "add", "demo", "65534", "65534", home], { stdin: "pw\n" }).code).toBe(0);
    const dir = join(work, "mbox-svc");
    const port = await freePort();
    expect(run([POPPIN, "conf", "pop3d", "--mbox", "--spool-dir", spools, "--port", String(port), applet("checkpassword"), "nobody", dir, "127.0.0.1"]).code).toBe(0);
    expect(readFileSync(join(dir, "env", "MAILDIRNAME"), "utf8")).toBe("mbox:\n");
    expect(readFileSync(join(dir, "env", "SPOOLDIR"), "utf8")).toBe(`${spools}\n`);
    writeFileSync(join(dir, "env", "POPPIN_USERDB"), `${userdb}.cdb\n`);
    const svc = await startServiceDir(dir);
    try {
      const c = await Pop3Client.open(port);
      expect(await c.line()).toStartWith("+OK");
      expect(await c.command("USER demo")).toStartWith("+OK");
      expect(await c.command("PASS pw")).toStartWith("+OK");
      expect(await c.command("STAT")).toMatch(/^\+OK 2 \d+\r\n$/);
      expect(await c.command("QUIT")).toStartWith("+OK");
      c.close();
    } finally {
      svc.stop();
    }
  }, 30_000);

  test("pop3d --cert/--key: env/CERTFILE and KEYFILE, so popup offers STLS; --mbox is refused for qmqpd", () => {
    const dir = join(work, "pop3d-stls");
    expect(run([POPPIN, "conf", "pop3d", "--cert", "/etc/x.pem", "--key", "/etc/x.key", "/bin/checkpassword", "nobody", dir]).code).toBe(0);
    expect(readFileSync(join(dir, "env", "CERTFILE"), "utf8")).toBe("/etc/x.pem\n");
    expect(readFileSync(join(dir, "env", "KEYFILE"), "utf8")).toBe("/etc/x.key\n");
    const q = run([POPPIN, "conf", "--mbox", "qmqpd", "daemon", "nobody", join(work, "q-mbox")]);
    expect(q.code).toBe(100);
    expect(q.stderr).toContain("--mbox and --spool-dir are for pop3d and pop3s");
  });
});

describe("pop3s run script", () => {
  test("serve --tls with env/CERTFILE and KEYFILE: a TLS client gets popup's greeting", async () => {
    const cert = join(work, "pop3s.pem");
    const key = join(work, "pop3s.key");
    const gen = run([requireTool("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost"]);
    expect(gen.code).toBe(0);
    const dir = join(work, "pop3s-live");
    const port = await freePort();
    expect(run([POPPIN, "conf", "pop3s", "--cert", cert, "--key", key, "--host", "pop.example.org", "--port", String(port), "/bin/true", "nobody", dir, "127.0.0.1"]).code).toBe(0);
    const svc = await startServiceDir(dir);
    try {
      const c = run([requireTool("openssl"), "s_client", "-quiet", "-connect", `127.0.0.1:${port}`], { stdin: "QUIT\r\n", timeoutMs: 15_000 });
      // The greeting, then QUIT's answer, both through TLS.
      expect(c.out).toMatch(/^\+OK[^\r\n]*\r\n\+OK[^\r\n]*\r\n$/);
      await svc.waitFor("tcpserver: end ");
      expect(svc.log()).toMatch(/tcpserver: ok \d+ 0:127\.0\.0\.1:\d+ :127\.0\.0\.1::\d+/);
    } finally {
      svc.stop();
    }
  }, 30_000);
});

describe("systemd units", () => {
  for (const kind of ["pop3d", "pop3s", "qmqpd"]) {
    test(`${kind}: systemd-analyze verify accepts the socket and the service`, () => {
      const dir = join(work, `sd-${kind}`);
      const first = kind === "qmqpd" ? "daemon" : "/bin/true";
      expect(run([POPPIN, "conf", "--systemd", kind, first, "nobody", dir, "127.0.0.1"]).code).toBe(0);
      const name = `sd-${kind}`;
      expect(readdirSync(dir).sort()).toEqual(["Makefile", "add-client", "env", `${name}.service`, `${name}.socket`, "tcp", "tcp.cdb"]);
      const v = run([requireTool("systemd-analyze"), "verify", join(dir, `${name}.socket`), join(dir, `${name}.service`)], { timeoutMs: 60_000 });
      expect(v.stderr.split("\n").filter((l) => l && !/Special user nobody/.test(l))).toEqual([]);
      expect(v.code).toBe(0);
      expect(readFileSync(join(dir, `${name}.socket`), "utf8")).toContain(`ListenStream=127.0.0.1:${kind === "pop3d" ? 110 : kind === "pop3s" ? 995 : 628}\n`);
    }, 60_000);
  }

  test("pop3d under systemd-socket-activate: denied, then add-client + make, then a login", async () => {
    const dir = join(work, "sd-live");
    const home = join(work, "sd-home");
    mkdirSync(home);
    expect(run([applet("maildirmake"), join(home, "Maildir")]).code).toBe(0);
    expect(run([applet("deliver"), join(home, "Maildir")], { stdin: "Subject: one\n\nbody\n" }).code).toBe(0);
    const userdb = join(work, "sd-users");
    expect(run([applet("users"), "-f", userdb, "add", "demo", "65534", "65534", home], { stdin: "pw\n" }).code).toBe(0);
    const chown = run(["chown", "-R", "65534:65534", home]);
    expect(chown.code).toBe(0);
    expect(run([POPPIN, "conf", "--systemd", "pop3d", applet("checkpassword"), "nobody", dir, "127.0.0.1"]).code).toBe(0);
    writeFileSync(join(dir, "env", "POPPIN_USERDB"), `${userdb}\n`);
    const unit = readFileSync(join(dir, "sd-live.service"), "utf8");
    const exec = /^ExecStart=(.*)$/m.exec(unit)![1].split(" ");
    const port = await freePort();
    const child = spawn(requireTool("systemd-socket-activate"), ["-l", `127.0.0.1:${port}`, ...exec], { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    child.stderr!.on("data", (d: Buffer) => { log += d.toString(); });
    try {
      const deadline = Date.now() + 10_000;
      while (!/Listening on/.test(log) && Date.now() < deadline) await Bun.sleep(50);
      const denied = await Pop3Client.open(port);
      expect(await denied.line(10_000)).toBeUndefined();
      denied.close();
      expect(run(["./add-client", "127.0.0.1"], { cwd: dir }).code).toBe(0);
      expect(run([requireTool("make")], { cwd: dir }).code).toBe(0);
      const c = await Pop3Client.open(port);
      expect(await c.line()).toStartWith("+OK");
      expect(await c.command("USER demo")).toStartWith("+OK");
      expect(await c.command("PASS pw")).toStartWith("+OK");
      expect(await c.command("STAT")).toMatch(/^\+OK 1 \d+\r\n$/);
      // systemctl reload runs ExecReload with $MAINPID: serve re-checks, the open session goes on.
      const reload = /^ExecReload=(.*)$/m.exec(unit)?.[1];
      expect(reload).toBe("/bin/kill -HUP $MAINPID");
      expect(run(reload!.replace("$MAINPID", String(child.pid)).split(" ")).code).toBe(0);
      const hupDeadline = Date.now() + 5000;
      while (!log.includes("SIGHUP: configuration checked") && Date.now() < hupDeadline) await Bun.sleep(50);
      expect(log).toContain("SIGHUP: configuration checked and in force");
      expect(await c.command("STAT")).toMatch(/^\+OK 1 \d+\r\n$/);
      expect(await c.command("QUIT")).toStartWith("+OK");
      c.close();
      expect(log).toMatch(/tcpserver: deny \d+ 0:127\.0\.0\.1:\d+ :127\.0\.0\.1::\d+/);
      const until = Date.now() + 5000;
      while (!log.includes("tcpserver: end ") && Date.now() < until) await Bun.sleep(50);
      expect(log).toMatch(/tcpserver: ok \d+ 0:127\.0\.0\.1:\d+ :127\.0\.0\.1::\d+/);
    } finally {
      child.kill("SIGTERM");
      await new Promise((r) => { child.once("exit", r); setTimeout(r, 3000); });
    }
  }, 30_000);
});
