/** poppin serve beyond tcpserver 0.88: IPv6, SIGTERM semantics, PROXY protocol, --per-ip, systemd socket activation. */
import { describe, expect, test } from "bun:test";
import net from "node:net";
import { join } from "node:path";
import { existsSync, readFileSync } from "node:fs";
import { POPPIN, applet, requireTool, run, tempDir } from "../helpers.ts";
import { maskLog, startServer, talk, waitFor } from "./harness.ts";

const hasIpv6Loopback = readFileSync("/proc/net/if_inet6", "utf8").includes("00000000000000000000000000000001");

/** Sends `first` (then half-closes with `endAfter`) and collects the answer. */
function rawTalk(port: number, first: Uint8Array | string, timeoutMs = 5000, endAfter = false): Promise<{ out: string; closed: boolean }> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: "127.0.0.1" });
    let out = "";
    const timer = setTimeout(() => { sock.destroy(); resolve({ out, closed: false }); }, timeoutMs);
    sock.on("connect", () => (endAfter ? sock.end(first) : sock.write(first)));
    sock.on("data", (d) => { out += d.toString("latin1"); });
    sock.on("error", () => {});
    sock.on("close", () => { clearTimeout(timer); resolve({ out, closed: true }); });
  });
}

const ENV_LINE = ["sh", "-c", "read line; echo \"$TCPREMOTEIP $TCPREMOTEPORT $TCPLOCALIP $TCPLOCALPORT $PROTO [$line] ${SEEN:-none}\""];

describe("serve extras", () => {
  test("IPv6 on ::1: PROTO=TCP6 and the TCP6 variables, as ucspi-tcp-ipv6", async () => {
    expect(hasIpv6Loopback).toBe(true);
    const s = await startServer(applet("tcpserver"), ["-v", "-HR", "-l", "h6", "::1", "0", "sh", "-c", "env | grep -E '^(PROTO|TCP)' | sort"]);
    const { out } = await talk(s.port, { host: "::1" });
    await waitFor(() => s.stderr().includes(" end "));
    await s.stop();
    expect(out).toMatch(/^PROTO=TCP6\nTCP6LOCALHOST=h6\nTCP6LOCALIP=::1\nTCP6LOCALPORT=\d+\nTCP6REMOTEIP=::1\nTCP6REMOTEPORT=\d+\nTCPLOCALHOST=h6\nTCPLOCALIP=::1\nTCPLOCALPORT=\d+\nTCPREMOTEIP=::1\nTCPREMOTEPORT=\d+\n$/);
    expect(s.stderr()).toMatch(/tcpserver: ok \d+ h6:\?\?1:\d+ :\?\?1::\d+\n/);
  });

  test("SIGTERM: stops accepting and exits 0 at once; the running program finishes its session", async () => {
    const s = await startServer(applet("tcpserver"), ["-HR", "127.0.0.1", "0", "sh", "-c", "echo hi; read x; echo bye $x"]);
    const session = talk(s.port, { send: "later\n", afterFirstOutput: true, sendDelayMs: 500 });
    await Bun.sleep(200);
    s.proc.kill("SIGTERM");
    const code = await Promise.race([s.proc.exited, Bun.sleep(2000).then(() => "hung")]);
    expect(code).toBe(0);
    expect((await session).out).toBe("hi\nbye later\n");
    const refused = await talk(s.port, { timeoutMs: 1000 });
    expect(refused).toMatchObject({ out: "", closed: true });
  });

  test("-1 with port 0 prints the chosen port, which then accepts", async () => {
    const s = await startServer(applet("tcpserver"), ["-HR", "127.0.0.1", "0", "echo", "up"]);
    expect(s.port).toBeGreaterThan(1023);
    expect((await talk(s.port)).out).toBe("up\n");
    await s.stop();
  });

  test("--proxy: v1 and v2 headers give the real client to the program and the rules; bytes after the header reach the program", async () => {
    const dir = tempDir("serve");
    const cdb = join(dir, "rules.cdb");
    expect(run([requireTool("tcprules"), cdb, join(dir, "t")], { stdin: "192.0.2.66:deny\n192.0.2.:allow,SEEN=\"doc\"\n:allow\n" }).code).toBe(0);
    const s = await startServer(applet("tcpserver"), ["-v", "-HR", "-l", "lb", "-x", cdb, "--proxy", "--proxy-from", "127.0.0.1", "127.0.0.1", "0", ...ENV_LINE]);
    const v1 = await rawTalk(s.port, "PROXY TCP4 192.0.2.7 198.51.100.1 51000 110\r\nhello\n");
    expect(v1.out).toBe("192.0.2.7 51000 198.51.100.1 110 TCP [hello] doc\n");
    const sig = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
    const src6 = [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 9];
    const dst6 = [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1];
    const v2 = new Uint8Array([...sig, 0x21, 0x21, 0, 36, ...src6, ...dst6, 0x30, 0x39, 0, 110, ...new TextEncoder().encode("two\n")]);
    expect((await rawTalk(s.port, v2)).out).toBe("2001:db8::9 12345 2001:db8::1 110 TCP6 [two] none\n");
    const local = new Uint8Array([...sig, 0x20, 0x00, 0, 0, ...new TextEncoder().encode("hc\n")]);
    expect((await rawTalk(s.port, local)).out).toMatch(/^127\.0\.0\.1 \d+ 127\.0\.0\.1 \d+ TCP \[hc\] none\n$/);
    const denied = await rawTalk(s.port, "PROXY TCP4 192.0.2.66 198.51.100.1 51000 110\r\n");
    expect(denied).toEqual({ out: "", closed: true });
    for (const bad of ["USER joe\r\n", "PROXY TCP4 192.0.2.7 198.51.100.1 51000\r\n", `PROXY TCP4 ${"9".repeat(120)}\r\n`, "PROXY TCP4 192.0.2.7"]) {
      const r = await rawTalk(s.port, bad, 4000, bad.endsWith("192.0.2.7"));
      expect({ bad, ...r }).toEqual({ bad, out: "", closed: true });
    }
    await waitFor(() => (s.stderr().match(/bad PROXY header/g) ?? []).length >= 4);
    await s.stop();
    const log = maskLog(s.stderr(), s.proc.pid);
    expect(log).toContain("tcpserver: ok PID lb:198.51.100.1:PORT :192.0.2.7::PORT");
    expect(log).toContain("tcpserver: deny PID lb:198.51.100.1:PORT :192.0.2.66::PORT");
    expect(log).toContain("tcpserver: warning: dropping connection, bad PROXY header from 127.0.0.1: no PROXY header");
    expect(log).toContain("tcpserver: warning: dropping connection, bad PROXY header from 127.0.0.1: v1 header too long");
    expect(log).toContain("tcpserver: warning: dropping connection, bad PROXY header from 127.0.0.1: connection closed before the PROXY header ended");
  });

  test("--proxy: a header that arrives in pieces is read whole, and not one byte past it; one cut short and closed is dropped", async () => {
    const s = await startServer(applet("tcpserver"), ["-v", "-HR", "-l", "lb", "--proxy", "--proxy-from", "127.0.0.1", "127.0.0.1", "0", ...ENV_LINE]);
    const piecewise = (pieces: (string | Uint8Array)[], end = false) => new Promise<{ out: string; closed: boolean }>((resolve) => {
      const sock = net.connect({ port: s.port, host: "127.0.0.1" });
      let out = "";
      const timer = setTimeout(() => { sock.destroy(); resolve({ out, closed: false }); }, 5000);
      sock.on("connect", async () => {
        for (const piece of pieces) {
          sock.write(piece);
          await Bun.sleep(30);
        }
        if (end) sock.end();
      });
      sock.on("data", (d) => { out += d.toString("latin1"); });
      sock.on("error", () => {});
      sock.on("close", () => { clearTimeout(timer); resolve({ out, closed: true }); });
    });
    const sig = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
    const v2 = new Uint8Array([...sig, 0x21, 0x11, 0, 12, 192, 0, 2, 8, 198, 51, 100, 1, 0xc3, 0x50, 0, 110]);
    // cut inside the signature, inside the fixed part and inside the addresses, the program's line behind the last piece
    const pieces = [v2.subarray(0, 3), v2.subarray(3, 14), v2.subarray(14, 20), new Uint8Array([...v2.subarray(20), ...new TextEncoder().encode("after\n")])];
    expect((await piecewise(pieces)).out).toBe("192.0.2.8 50000 198.51.100.1 110 TCP [after] none\n");
    expect((await piecewise(["PRO", "XY TCP4 192.0.2.9 198.51.100.1 5", "1000 110\r", "\nv1\n"])).out).toBe("192.0.2.9 51000 198.51.100.1 110 TCP [v1] none\n");
    expect(await piecewise([v2.subarray(0, 10), v2.subarray(10, 22)], true)).toEqual({ out: "", closed: true });
    await waitFor(() => s.stderr().includes("connection closed before the PROXY header ended"));
    await s.stop();
    expect(s.stderr()).toContain("tcpserver: warning: dropping connection, bad PROXY header from 127.0.0.1: connection closed before the PROXY header ended");
  });

  test("--proxy: a peer that connects and closes without a header is logged as closed, in both modes", async () => {
    for (const inline of [false, true]) {
      const s = await startServer(applet("tcpserver"), [...(inline ? ["--inline"] : []), "-v", "-HR", "--proxy", "--proxy-from", "127.0.0.1", "127.0.0.1", "0", ...(inline
        ? [applet("qmail-popup"), "h", applet("checkpassword"), applet("qmail-pop3d"), "Maildir"] : ENV_LINE)]);
      await new Promise<void>((resolve) => {
        const sock = net.connect({ port: s.port, host: "127.0.0.1" }, () => sock.destroy());
        sock.on("close", () => resolve());
        sock.on("error", () => resolve());
      });
      await waitFor(() => s.stderr().includes("bad PROXY header"));
      await s.stop();
      expect(s.stderr()).toContain("warning: dropping connection, bad PROXY header from 127.0.0.1: connection closed before the PROXY header ended");
      expect(s.stderr()).not.toContain("EBADF");
    }
  });

  test("--proxy: a connection is taken from the kernel once its header arrives (TCP_DEFER_ACCEPT), not at the handshake, in both modes", async () => {
    for (const inline of [false, true]) {
      const s = await startServer(applet("tcpserver"), [...(inline ? ["--inline"] : []), "-v", "-HR", "--proxy", "--proxy-from", "127.0.0.1", "127.0.0.1", "0", ...(inline
        ? [applet("qmail-popup"), "h", applet("checkpassword"), applet("qmail-pop3d"), "Maildir"] : ENV_LINE)]);
      const sock = net.connect({ port: s.port, host: "127.0.0.1" });
      sock.on("error", () => {});
      let out = "";
      sock.on("data", (d) => { out += d.toString("latin1"); });
      await new Promise<void>((resolve) => sock.once("connect", () => resolve()));
      // Accepting a connection prints its status line; a silent peer is not handed over for about a second.
      await Bun.sleep(400);
      const beforeHeader = s.stderr();
      sock.write(inline ? "PROXY TCP4 192.0.2.7 198.51.100.1 51000 110\r\nQUIT\r\n" : "PROXY TCP4 192.0.2.7 198.51.100.1 51000 110\r\nhello\n");
      await waitFor(() => out.endsWith("\n") && s.stderr().includes(" end "));
      sock.destroy();
      await s.stop();
      expect(beforeHeader).not.toContain("status: 1/");
      expect(s.stderr()).toContain("status: 1/");
      if (inline) expect(out).toMatch(/^\+OK .*\r\n\+OK.*\r\n$/);
      else expect(out).toBe("192.0.2.7 51000 198.51.100.1 110 TCP [hello] none\n");
    }
  });

  test("--proxy: a peer that is not trusted (by --proxy-from or a PROXY_TRUSTED rule) is dropped", async () => {
    const s = await startServer(applet("tcpserver"), ["-HR", "--proxy", "--proxy-from", "10.0.0.0/8", "127.0.0.1", "0", ...ENV_LINE]);
    const r = await rawTalk(s.port, "PROXY TCP4 192.0.2.7 198.51.100.1 51000 110\r\nhello\n");
    await s.stop();
    expect(r).toEqual({ out: "", closed: true });
    expect(s.stderr()).toContain("tcpserver: warning: dropping connection, PROXY header not accepted from 127.0.0.1\n");
    const dir = tempDir("serve");
    const cdb = join(dir, "rules.cdb");
    expect(run([requireTool("tcprules"), cdb, join(dir, "t")], { stdin: "127.0.0.1:allow,PROXY_TRUSTED=\"1\"\n:allow\n" }).code).toBe(0);
    const t = await startServer(applet("tcpserver"), ["-HR", "-x", cdb, "--proxy", "127.0.0.1", "0", ...ENV_LINE]);
    const trusted = await rawTalk(t.port, "PROXY TCP4 192.0.2.7 198.51.100.1 51000 110\r\nhello\n");
    await t.stop();
    expect(trusted.out).toBe("192.0.2.7 51000 198.51.100.1 110 TCP [hello] none\n");
  });

  test("--per-ip 1: a second connection from the same address is dropped, others are served", async () => {
    const s = await startServer(applet("tcpserver"), ["-HR", "--per-ip", "1", "0", "0", "sh", "-c", "echo hi; read x"]);
    const first = talk(s.port, { send: "x\n", afterFirstOutput: true, sendDelayMs: 600, localAddress: "127.0.0.1" });
    await Bun.sleep(200);
    const second = await talk(s.port, { localAddress: "127.0.0.1" });
    const other = await talk(s.port, { localAddress: "127.0.0.3", send: "y\n", afterFirstOutput: true });
    expect((await first).out).toBe("hi\n");
    expect(second).toMatchObject({ out: "", closed: true });
    expect(other.out).toBe("hi\n");
    await s.stop();
    expect(s.stderr()).toContain("tcpserver: warning: dropping connection, 127.0.0.1 already has 1 connections (--per-ip)\n");
  });

  test("systemd socket activation through systemd-socket-activate (LISTEN_FDS/LISTEN_PID)", async () => {
    const activate = requireTool("systemd-socket-activate");
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", () => r()));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const proc = Bun.spawn([activate, "-l", `127.0.0.1:${port}`, POPPIN, "serve", "-v", "-HR", "--systemd", "sh", "-c", "echo \"$TCPLOCALPORT ${LISTEN_FDS:-unset} ${LISTEN_PID:-unset}\""], { stdout: "ignore", stderr: "pipe" });
    try {
      let out = { out: "", closed: false };
      for (let i = 0; i < 50 && out.out === ""; i++) {
        out = await talk(port, { timeoutMs: 2000 });
        if (out.out === "") await Bun.sleep(100);
      }
      expect(out.out).toBe(`${port} unset unset\n`);
      const again = await talk(port);
      expect(again.out).toBe(`${port} unset unset\n`);
    } finally {
      proc.kill("SIGTERM");
      await Promise.race([proc.exited, Bun.sleep(3000)]);
      proc.kill("SIGKILL");
    }
  });

  test("the shipped service's ExecStart, run under systemd-socket-activate, answers POP3", async () => {
    const service = readFileSync(join(import.meta.dir, "..", "..", "scripts", "systemd", "poppin-pop3.service"), "utf8");
    const exec = /^ExecStart=(.*)$/m.exec(service)![1];
    const bin = join(applet("tcpserver"), "..");
    const argv = exec.split(/\s+/).map((word) => word
      .replace(/^\/usr\/local\/bin\/poppin$/, POPPIN)
      .replace(/^\/usr\/local\/bin\//, `${bin}/`)
      .replace("%H", "pop.example.org")
      .replace("/etc/poppin/pop3.cdb", join(tempDir("serve"), "none.cdb")));
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", () => r()));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const proc = Bun.spawn([requireTool("systemd-socket-activate"), "-l", `127.0.0.1:${port}`, ...argv], { stdout: "ignore", stderr: "pipe" });
    try {
      let r = { out: "", closed: false };
      for (let i = 0; i < 50 && r.out === ""; i++) {
        r = await talk(port, { send: "QUIT\r\n", afterFirstOutput: true, timeoutMs: 3000 });
        if (r.out === "") await Bun.sleep(100);
      }
      expect(r.out).toMatch(/^\+OK .*\r\n\+OK.*\r\n$/);
      expect(r.closed).toBe(true);
    } finally {
      proc.kill("SIGTERM");
      await Promise.race([proc.exited, Bun.sleep(3000)]);
      proc.kill("SIGKILL");
    }
  });

  test("the shipped systemd units run the classic chain on the activated socket", () => {
    const dir = join(import.meta.dir, "..", "..", "scripts", "systemd");
    const socket = readFileSync(join(dir, "poppin-pop3.socket"), "utf8");
    const service = readFileSync(join(dir, "poppin-pop3.service"), "utf8");
    expect(socket).toMatch(/^ListenStream=.*110$/m);
    expect(service).toMatch(/^ExecStart=.*serve .*--systemd .*qmail-popup .*checkpassword .*qmail-pop3d/m);
    expect(existsSync(join(dir, "README"))).toBe(false);
    const r = run([requireTool("systemd-analyze"), "verify", "--man=no", join(dir, "poppin-pop3.socket"), join(dir, "poppin-pop3.service")]);
    // The only complaint allowed is that poppin is not installed on this machine.
    expect(r.stderr.split("\n").filter((l) => l !== "" && !l.includes("is not executable"))).toEqual([]);
  });
});

describe("serve host names (system resolver)", () => {
  test("-h sets TCPREMOTEHOST to the address's name; -p keeps it only if the name resolves back", async () => {
    const dns = await import("node:dns/promises");
    // The C library's name for the address (getent reads /etc/hosts, then DNS).
    const name = run([requireTool("getent"), "hosts", "127.0.0.1"]).out.split(/\s+/)[1] || undefined;
    const back = name ? await dns.lookup(name, { all: true }).catch(() => []) : [];
    const paranoidName = back.some((a) => a.address === "127.0.0.1") ? name : undefined;
    const child = ["sh", "-c", "echo \"[${TCPREMOTEHOST-unset}]\""];
    for (const [flag, expected] of [["-h", name], ["-p", paranoidName], ["-H", undefined]] as const) {
      const s = await startServer(applet("tcpserver"), [flag, "-R", "-l", "x", "127.0.0.1", "0", ...child]);
      const { out } = await talk(s.port);
      await s.stop();
      expect({ flag, out }).toEqual({ flag, out: `[${expected ?? "unset"}]\n` });
    }
  });
});
