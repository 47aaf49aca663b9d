/**
 * The classic chain started without serve or tcpserver: systemd's socket activation with
 * Accept=yes (systemd-socket-activate --inetd), as inetd runs it. popup asks the connection
 * for the addresses and sets tcpserver's variables, so its log lines, the per-address login
 * limit and the programs after it see the client; the values match what tcpserver (Debian's)
 * and serve set. A pipe on stdin and values already set are left alone.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { applet, requireTool, ROOT, run, startPortServer, tempDir } from "../helpers.ts";
import { foreignPopup } from "./foreign_popup.ts";
import { makeUsers, type VirtualUsers } from "../proxy/topology.ts";

const UCSPI = /^(PROTO|TCP6?(LOCAL|REMOTE)(IP|PORT|HOST|INFO))=/;
const PATH = process.env.PATH ?? "/usr/bin:/bin";

interface Activated {
  port: number;
  log(): string;
  stop(): Promise<void>;
}

async function freePort(host: string): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, host, () => r()));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}

/** `systemd-socket-activate --inetd -a -l HOST:PORT argv...`: each connection runs argv with the socket as fds 0 and 1 and only `env` (and PATH). */
async function activate(host: string, argv: string[], env: Record<string, string>): Promise<Activated> {
  const port = await freePort(host === "::" ? "::" : host);
  const listen = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  const setenv = Object.entries(env).flatMap(([name, value]) => ["-E", `${name}=${value}`]);
  const proc = Bun.spawn([requireTool("systemd-socket-activate"), "--inetd", "-a", "-l", listen, ...setenv, ...argv], { stdin: "ignore", stdout: "ignore", stderr: "pipe", env: { PATH } });
  let log = "";
  void (async () => {
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) log += Buffer.from(chunk).toString("latin1");
  })();
  for (let i = 0; i < 100 && !log.includes("Listening on"); i++) await Bun.sleep(50);
  if (!log.includes("Listening on")) throw new Error(`systemd-socket-activate did not listen: ${log}`);
  return {
    port,
    log: () => log,
    async stop() {
      proc.kill("SIGTERM");
      await Promise.race([proc.exited, Bun.sleep(3000)]);
      proc.kill("SIGKILL");
    },
  };
}

/** Connects from `from` to host:port, sends `lines` after the greeting, returns what came back (until close) and our port. */
function pop(host: string, port: number, from: string, lines: string[]): Promise<{ out: string; localPort: number }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port, localAddress: from });
    let out = "";
    let sent = false;
    let localPort = 0;
    sock.on("connect", () => (localPort = sock.localPort ?? 0));
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no close from ${host}:${port} within 10 s; got ${JSON.stringify(out)}`));
    }, 10_000);
    sock.on("data", (c: Buffer) => {
      out += c.toString("latin1");
      if (!sent && out.includes("\r\n")) {
        sent = true;
        sock.write(lines.map((l) => `${l}\r\n`).join(""));
      }
    });
    sock.on("error", () => {});
    sock.on("close", () => {
      clearTimeout(timer);
      resolve({ out, localPort });
    });
  });
}

async function waitFor(what: string, probe: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !probe(); i++) await Bun.sleep(50);
  if (!probe()) throw new Error(`timed out waiting for ${what}`);
}

let dir: string;
let envOut: string;
let recorder: string;
let users: VirtualUsers;

/** The UCSPI variables the recording checkpassword saw, as sorted NAME=VALUE lines. */
function recorded(): string[] {
  return readFileSync(envOut, "utf8").split("\n").filter((l) => UCSPI.test(l)).sort();
}

beforeAll(() => {
  dir = tempDir("inetd");
  chmodSync(dir, 0o755);
  envOut = join(dir, "env.out");
  recorder = join(dir, "record-env");
  // A foreign checkpassword: writes down its environment and refuses the login.
  writeFileSync(recorder, `#!/bin/sh\nenv > ${envOut}\nexit 1\n`, { mode: 0o755 });
  users = makeUsers({ alice: "alice pw" }, () => [Buffer.from("Subject: hi\n\nhello\n")]);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("popup under socket activation (Accept=yes, inetd style)", () => {
  test("an IPv4 client: rip= in the failure line, the per-address limit counts it, a right password still logs in", async () => {
    const failures = join(dir, "failures");
    mkdirSync(failures);
    const a = await activate("127.0.0.1", [applet("qmail-popup"), "pop.example.org", applet("checkpassword"), applet("qmail-pop3d"), "Maildir"], {
      POPPIN_USERDB: users.userdb,
      POPPIN_AUTH_FAILURE_DELAY: "0",
      POPPIN_AUTH_FAILURE_DIR: failures,
      POPPIN_AUTH_FAILURE_LIMIT: "1",
    });
    try {
      const first = await pop("127.0.0.1", a.port, "127.0.0.5", ["USER alice", "PASS wrong", "QUIT"]);
      expect(first.out).toMatch(/^\+OK .*\r\n\+OK.*\r\n-ERR.*\r\n\+OK.*\r\n$/);
      await waitFor("the failure line", () => a.log().includes("authorization failed rip=127.0.0.5 user=alice"));
      // 127.0.0.5 is over its limit now; 127.0.0.6 is not (a limit keyed on "unknown" would block both).
      const blocked = await pop("127.0.0.1", a.port, "127.0.0.5", ["USER alice", "PASS alice pw", "QUIT"]);
      expect(blocked.out).not.toContain("maildrop");
      expect(blocked.out).toMatch(/-ERR/);
      const other = await pop("127.0.0.1", a.port, "127.0.0.6", ["USER alice", "PASS alice pw", "STAT", "QUIT"]);
      expect(other.out).toMatch(/\r\n\+OK 1 \d+\r\n/);
      await waitFor("the refusal line", () => a.log().includes("authorization failed rip=127.0.0.5 user=alice mech=USER why=too%20many%20failed%20logins%20from%20this%20address"));
      // pop3d, the last program of the chain, names the client too.
      await waitFor("pop3d's line", () => /qmail-pop3d: info: end=quit user=alice rip=127\.0\.0\.6 /.test(a.log()));
      expect(a.log()).not.toContain("rip=unknown");
      // fail2ban's filter, on the log as multilog would have stamped it, bans the client's address.
      const stamped = run([applet("tai64n")], { stdin: a.log() }).out;
      const logPath = join(dir, "current");
      writeFileSync(logPath, stamped);
      const f2b = run([requireTool("fail2ban-regex"), "-o", "ip", logPath, join(ROOT, "scripts", "fail2ban", "filter.d", "poppin.conf")], { timeoutMs: 60_000 });
      expect(f2b.code).toBe(0);
      expect(f2b.out.trim().split("\n")).toEqual(["127.0.0.5", "127.0.0.5"]);
    } finally {
      await a.stop();
    }
  });

  test("checkpassword gets tcpserver's variables, the same as Debian's tcpserver -HR gives it", async () => {
    const argv = [applet("qmail-popup"), "pop.example.org", recorder];
    const a = await activate("127.0.0.1", argv, { POPPIN_AUTH_FAILURE_DELAY: "0" });
    let ours: string[];
    let clientPort: number;
    try {
      const r = await pop("127.0.0.1", a.port, "127.0.0.5", ["USER alice", "PASS x", "QUIT"]);
      clientPort = r.localPort;
      ours = recorded();
      expect(ours).toEqual(["PROTO=TCP", `TCPLOCALIP=127.0.0.1`, `TCPLOCALPORT=${a.port}`, "TCPREMOTEIP=127.0.0.5", `TCPREMOTEPORT=${clientPort}`]);
    } finally {
      await a.stop();
    }
    rmSync(envOut);
    // Debian's tcpserver on the same kind of connection (-l0: no local name lookup; TCPLOCALHOST is its only extra).
    const t = await startPortServer([requireTool("tcpserver"), "-1", "-HR", "-l0", "127.0.0.1", "0", ...argv], { env: { PATH, POPPIN_AUTH_FAILURE_DELAY: "0" } });
    try {
      const r = await pop("127.0.0.1", t.port, "127.0.0.5", ["USER alice", "PASS x", "QUIT"]);
      const theirs = recorded().filter((l) => !l.startsWith("TCPLOCALHOST="));
      const normalise = (lines: string[], server: number, client: number) =>
        lines.map((l) => l.replace(`PORT=${server}`, "PORT=SERVER").replace(`PORT=${client}`, "PORT=CLIENT"));
      expect(normalise(ours, a.port, clientPort)).toEqual(normalise(theirs, t.port, r.localPort));
    } finally {
      await t.stop();
    }
  });

  test("IPv6 (::1) and an IPv4 client of an IPv6 socket: the variables serve sets", async () => {
    const argv = [applet("qmail-popup"), "pop.example.org", recorder];
    const env = { POPPIN_AUTH_FAILURE_DELAY: "0" };
    const cases: [string, string, string][] = [["::1", "::1", "::1"], ["::", "127.0.0.1", "127.0.0.5"]];
    for (const [listen, connectTo, from] of cases) {
      const a = await activate(listen, argv, env);
      let ours: string[];
      let clientPort: number;
      try {
        const r = await pop(connectTo, a.port, from, ["USER alice", "PASS x", "QUIT"]);
        clientPort = r.localPort;
        ours = recorded();
      } finally {
        await a.stop();
      }
      rmSync(envOut);
      const s = await startPortServer([applet("tcpserver"), "-1", "-HR", "-l0", listen, "0", ...argv], { env: { PATH, ...env } });
      try {
        const r = await pop(connectTo, s.port, from, ["USER alice", "PASS x", "QUIT"]);
        const theirs = recorded().filter((l) => !/^TCP6?LOCALHOST=/.test(l));
        const normalise = (lines: string[], server: number, client: number) =>
          lines.map((l) => l.replace(`PORT=${server}`, "PORT=SERVER").replace(`PORT=${client}`, "PORT=CLIENT"));
        expect(normalise(ours, a.port, clientPort)).toEqual(normalise(theirs, s.port, r.localPort));
        expect(ours).toContain(`TCPREMOTEIP=${from}`);
        expect(ours).toContain(`TCP6REMOTEIP=${from}`);
        expect(ours).toContain(from.includes(":") ? "PROTO=TCP6" : "PROTO=TCP");
      } finally {
        await s.stop();
      }
    }
  });

  test("values already set win: TCPREMOTEIP set leaves everything alone; another one set is kept", async () => {
    const argv = [applet("qmail-popup"), "pop.example.org", recorder];
    const a = await activate("127.0.0.1", argv, { POPPIN_AUTH_FAILURE_DELAY: "0", TCPREMOTEIP: "192.0.2.9" });
    try {
      await pop("127.0.0.1", a.port, "127.0.0.5", ["USER alice", "PASS x", "QUIT"]);
      expect(recorded()).toEqual(["TCPREMOTEIP=192.0.2.9"]);
      await waitFor("the failure line", () => a.log().includes("authorization failed rip=192.0.2.9 user=alice"));
    } finally {
      await a.stop();
    }
    const b = await activate("127.0.0.1", argv, { POPPIN_AUTH_FAILURE_DELAY: "0", TCPLOCALIP: "198.51.100.1", PROTO: "TCP6" });
    try {
      const r = await pop("127.0.0.1", b.port, "127.0.0.5", ["USER alice", "PASS x", "QUIT"]);
      expect(recorded()).toEqual(["PROTO=TCP6", "TCPLOCALIP=198.51.100.1", `TCPLOCALPORT=${b.port}`, "TCPREMOTEIP=127.0.0.5", `TCPREMOTEPORT=${r.localPort}`]);
    } finally {
      await b.stop();
    }
  });

  test("a foreign popup: poppin's checkpassword fills the variables for the program it runs", async () => {
    const { popup, record, out } = foreignPopup(dir);
    const a = await activate("127.0.0.1", [popup, applet("checkpassword"), record], { POPPIN_USERDB: users.userdb });
    try {
      const r = await pop("127.0.0.1", a.port, "127.0.0.5", []);
      await waitFor("the program's environment", () => {
        try {
          return readFileSync(out, "utf8").includes("TCPREMOTEPORT=");
        } catch {
          return false;
        }
      });
      const seen = readFileSync(out, "utf8").split("\n").filter((l) => UCSPI.test(l)).sort();
      expect(seen).toEqual(["PROTO=TCP", "TCPLOCALIP=127.0.0.1", `TCPLOCALPORT=${a.port}`, "TCPREMOTEIP=127.0.0.5", `TCPREMOTEPORT=${r.localPort}`]);
    } finally {
      await a.stop();
    }
  });

  test("qmqpd under socket activation names the client in its log line", async () => {
    const a = await activate("127.0.0.1", [applet("qmail-qmqpd")], { POPPIN_USERDB: users.userdb, UID: "65534", GID: "65534" });
    try {
      const sock = net.connect({ host: "127.0.0.1", port: a.port, localAddress: "127.0.0.5" });
      let answer = "";
      sock.on("data", (c: Buffer) => (answer += c.toString("latin1")));
      sock.on("error", () => {});
      await new Promise<void>((r) => sock.on("connect", () => r()));
      sock.end("garbage");
      await new Promise<void>((r) => sock.on("close", () => r()));
      expect(answer).toContain("Dsorry, that is not a valid QMQP request");
      await waitFor("qmqpd's line", () => a.log().includes("qmail-qmqpd: warning: refused: a netstring length is not a number rip=127.0.0.5\n"));
    } finally {
      await a.stop();
    }
  });

  test("stdin a pipe: nothing is set, the log says rip=unknown as before", async () => {
    const proc = Bun.spawn([applet("qmail-popup"), "pop.example.org", recorder], {
      stdin: new TextEncoder().encode("USER alice\r\nPASS x\r\nQUIT\r\n"),
      stdout: "pipe",
      stderr: "pipe",
      env: { PATH, POPPIN_AUTH_FAILURE_DELAY: "0" },
    });
    const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect(out).toMatch(/^\+OK .*\r\n\+OK.*\r\n-ERR.*\r\n\+OK.*\r\n$/);
    expect(err).toContain("authorization failed rip=unknown user=alice");
    expect(recorded()).toEqual([]);
  });

  test("the Accept=yes units in docs/serve.md pass systemd-analyze verify", () => {
    const doc = readFileSync(join(ROOT, "docs", "serve.md"), "utf8");
    const units = [...doc.matchAll(/```\n# (pop3-inetd\S*)\n([\s\S]*?)```/g)];
    expect(units.map((m) => m[1])).toEqual(["pop3-inetd.socket", "pop3-inetd@.service"]);
    for (const m of units) writeFileSync(join(dir, m[1]!), m[2]!);
    expect(units[1]![2]).toMatch(/^StandardError=journal$/m); // not inherit: stderr would reach the client
    const r = run([requireTool("systemd-analyze"), "verify", "--man=no", join(dir, "pop3-inetd.socket"), join(dir, "pop3-inetd@.service")]);
    // The only complaint allowed is that poppin is not installed on this machine.
    expect(`${r.out}${r.stderr}`.split("\n").filter((l) => l !== "" && !l.includes("is not executable"))).toEqual([]);
  });
});
