/** The same scenarios against Debian's /usr/bin/tcpserver and poppin's, compared. */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { mkdirSync, writeFileSync } from "node:fs";
import { applet, requireTool, run, tempDir } from "../helpers.ts";
import { implementations, maskLog, startServer, talk, waitFor } from "./harness.ts";

const ENV_CHILD = ["sh", "-c", "env | grep -E '^(PROTO|TCP|FOO|RANGE|PREFIX|DEFAULT|EXACT)' | sort"];

function maskPorts(text: string): string {
  return text.replace(/^(TCPLOCALPORT|TCPREMOTEPORT)=\d+$/gm, "$1=PORT");
}

async function both<T>(scenario: (bin: string, name: string) => Promise<T>): Promise<{ debian: T; poppin: T }> {
  const [debian, poppin] = implementations();
  return { debian: await scenario(debian.bin, debian.name), poppin: await scenario(poppin.bin, poppin.name) };
}

/**
 * An identd on `address`:113 that answers each query with `answer(query)`, and `args` run by
 * each tcpserver for a client from `address`: what the client got, then the log (masked).
 */
async function withIdentd(address: string, answer: (query: string) => string | Uint8Array, args: string[]): Promise<{ debian: string; poppin: string }> {
  const identd = Bun.listen({
    hostname: address,
    port: 113,
    socket: { data(sock, data) { sock.write(answer(data.toString().trim())); sock.end(); } },
  });
  try {
    return await both(async (bin) => {
      const s = await startServer(bin, args);
      const { out } = await talk(s.port, { localAddress: address });
      await waitFor(() => s.stderr().includes(" end "));
      await s.stop();
      return out + maskLog(s.stderr());
    });
  } finally {
    identd.stop(true);
  }
}

describe("serve against Debian tcpserver", () => {
  test("child environment, ident and DNS off, -l name", async () => {
    const r = await both(async (bin) => {
      const s = await startServer(bin, ["-H", "-R", "-l", "here.example", "127.0.0.1", "0", ...ENV_CHILD]);
      const { out } = await talk(s.port);
      await s.stop();
      return maskPorts(out);
    });
    expect(r.poppin).toContain("PROTO=TCP\n");
    expect(r.poppin).toContain("TCPLOCALHOST=here.example\n");
    expect(r.poppin).toBe(r.debian);
  });

  test("child environment with tcpserver's defaults (-r ident fails on loopback: TCPREMOTEINFO unset)", async () => {
    const r = await both(async (bin) => {
      const s = await startServer(bin, ["-H", "-l", "0", "127.0.0.1", "0", ...ENV_CHILD]);
      const { out } = await talk(s.port);
      await s.stop();
      return maskPorts(out);
    });
    expect(r.poppin).not.toContain("TCPREMOTEINFO");
    expect(r.poppin).toBe(r.debian);
  });

  test("the child gets the socket as fds 0 and 1 and nothing else", async () => {
    const r = await both(async (bin) => {
      const s = await startServer(bin, ["-HR", "127.0.0.1", "0", "sh", "-c", "exec ls /proc/self/fd"]);
      const { out } = await talk(s.port);
      await s.stop();
      return out;
    });
    expect(r.poppin.split("\n").filter(Boolean).sort()).toEqual(["0", "1", "2", "3"]);
    expect(r.poppin).toBe(r.debian);
  });

  test("ident answer becomes TCPREMOTEINFO (identd on 127.0.0.2:113)", async () => {
    const r = await withIdentd("127.0.0.2", (query) => `${query} : USERID : UNIX : joe\t smith\r\n`,
      ["-v", "-H", "-l", "h", "0", "0", "sh", "-c", "echo \"[$TCPREMOTEINFO]\""]);
    expect(r.poppin).toStartWith("[joesmith]\n");
    expect(r.poppin).toContain("tcpserver: ok PID h:127.0.0.1:PORT :127.0.0.2:joesmith:PORT");
    expect(r.poppin).toBe(r.debian);
  });

  test("8-bit bytes: a UTF-8 ident answer reaches TCPREMOTEINFO as sent, the ok line has one ? per byte (-l too)", async () => {
    const r = await withIdentd("127.0.0.6", (query) => `${query} : USERID : UNIX : j\u00f6rg\r\n`,
      ["-v", "-H", "-l", "h\u00e9", "0", "0", "sh", "-c", "printf '%s' \"$TCPREMOTEINFO\" | od -An -tx1"]);
    expect(r.poppin).toStartWith(" 6a c3 b6 72 67\n");
    expect(r.poppin).toContain("tcpserver: ok PID h??:127.0.0.1:PORT :127.0.0.6:j??rg:PORT");
    expect(r.poppin).toBe(r.debian);
  });

  test("a NUL in the ident answer ends it, as in tcpserver's C string: the program runs with what came before", async () => {
    const r = await withIdentd("127.0.0.8",
      (query) => Buffer.concat([Buffer.from(`${query} : USERID : UNIX : jo`), Buffer.from([0]), Buffer.from("e=x\x01\r\n", "latin1")]),
      ["-v", "-H", "-l", "h", "0", "0", "sh", "-c", "printf '[%s]' \"$TCPREMOTEINFO\""]);
    expect(r.poppin).toStartWith("[jo]");
    expect(r.poppin).toContain("tcpserver: ok PID h:127.0.0.1:PORT :127.0.0.8:jo:PORT");
    expect(r.poppin).toBe(r.debian);
  });

  test("-v log lines for an allowed and a denied connection (pids and ports masked)", async () => {
    const dir = tempDir("serve");
    const cdb = join(dir, "rules.cdb");
    const made = run([requireTool("tcprules"), cdb, join(dir, "rules.tmp")], { stdin: "127.0.0.9:deny\n:allow\n" });
    expect(made.code).toBe(0);
    const r = await both(async (bin) => {
      const s = await startServer(bin, ["-v", "-HR", "-l", "host", "-x", cdb, "0", "0", "echo", "hello"]);
      const a = await talk(s.port, { localAddress: "127.0.0.1" });
      await waitFor(() => s.stderr().includes(" end "));
      const d = await talk(s.port, { localAddress: "127.0.0.9" });
      await waitFor(() => (s.stderr().match(/ end /g) ?? []).length >= 2);
      await s.stop();
      return { out: a.out + "|" + d.out + "|" + String(d.closed), log: maskLog(s.stderr(), s.proc.pid) };
    });
    expect(r.poppin.out).toBe("hello\n||true");
    expect(r.poppin.log).toContain("tcpserver: deny PID host:127.0.0.1:PORT :127.0.0.9::PORT");
    expect(r.poppin.log).toContain("tcpserver: end PID status 25600");
    expect(r.poppin).toEqual(r.debian);
  });

  test("rules: exact IP, prefix, range, default, env and deny", async () => {
    const dir = tempDir("serve");
    const cdb = join(dir, "rules.cdb");
    const rules = [
      "127.0.0.2:deny",
      "127.0.0.3:allow,EXACT=\"three\"",
      "127.0.0.4-6:allow,RANGE=\"four-six\"",
      "127.0.1.:allow,PREFIX=\"one\",FOO=\"\"",
      ":allow,DEFAULT=\"yes\"",
    ].join("\n") + "\n";
    expect(run([requireTool("tcprules"), cdb, join(dir, "rules.tmp")], { stdin: rules }).code).toBe(0);
    const clients = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.5", "127.0.1.7", "127.0.0.7"];
    const r = await both(async (bin) => {
      const s = await startServer(bin, ["-HR", "-l", "x", "-x", cdb, "0", "0", ...ENV_CHILD]);
      const outs: string[] = [];
      for (const localAddress of clients) outs.push(maskPorts((await talk(s.port, { localAddress })).out));
      await s.stop();
      return outs;
    });
    expect(r.poppin[1]).toBe("");
    expect(r.poppin[2]).toContain("EXACT=three\n");
    expect(r.poppin[3]).toContain("RANGE=four-six\n");
    expect(r.poppin[4]).toContain("FOO=\n");
    expect(r.poppin[5]).toContain("DEFAULT=yes\n");
    expect(r.poppin).toEqual(r.debian);
  });

  test("the child's whole environment, in order (env unsorted): inherited variables replaced by tcpserver's and a rule's as pathexec does", async () => {
    const dir = tempDir("serve");
    const cdb = join(dir, "rules.cdb");
    const rules = ":allow,TCPREMOTEHOST=\"rulehost\",EMPTY=\"\",PATH=\"/rule/bin\",PROTO=\"FOO\",FIRST=\"new\",FRESH=\"1\"\n";
    expect(run([requireTool("tcprules"), cdb, join(dir, "rules.tmp")], { stdin: rules }).code).toBe(0);
    // Stale UCSPI values and variables the rule replaces, in the middle and at both ends.
    const base = {
      FIRST: "old", PATH: "/usr/bin:/bin", TCPREMOTEINFO: "stale", A: "1", TCPLOCALHOST: "stale", B: "2",
      PROTO: "stale", C: "3", TCPREMOTEHOST: "stale", LAST: "z",
    };
    const r = await both(async (bin) => {
      const s = await startServer(bin, ["-H", "-R", "-l", "here.example", "-x", cdb, "127.0.0.1", "0", "/usr/bin/env"], base);
      const { out } = await talk(s.port);
      await s.stop();
      return maskPorts(out);
    });
    expect(r.poppin).toContain("TCPREMOTEHOST=rulehost\n");
    expect(r.poppin).not.toContain("TCPREMOTEINFO");
    expect(r.poppin).toBe(r.debian);
  });

  test("IPv6 (::1): the whole environment in ucspi-tcp-ipv6's tcpserver's order, each TCP6 copy after its TCP variable", async () => {
    // ucspi-tcp-ipv6 conflicts with ucspi-tcp: .ci/run unpacks it into /opt.
    const v6 = "/opt/ucspi-tcp-ipv6/usr/bin/tcpserver";
    const base = { FIRST: "x", TCP6REMOTEIP: "stale", PROTO: "old", A: "1", TCPLOCALHOST: "stale", TCP6LOCALPORT: "stale", PATH: "/usr/bin:/bin" };
    const outs: string[] = [];
    for (const bin of [v6, applet("tcpserver")]) {
      const s = await startServer(bin, ["-H", "-R", "-l", "h6", "::1", "0", "/usr/bin/env"], base);
      const { out } = await talk(s.port, { host: "::1" });
      await s.stop();
      outs.push(maskPorts(out).replace(/^(TCP6LOCALPORT|TCP6REMOTEPORT)=\d+$/gm, "$1=PORT"));
    }
    expect(outs[1]).toContain("TCP6REMOTEIP=::1\n");
    expect(outs[1]).toBe(outs[0]);
  });

  test("missing rules cdb: dropped without -X, allowed with -X", async () => {
    const dir = tempDir("serve");
    const missing = join(dir, "none.cdb");
    const r = await both(async (bin) => {
      const s = await startServer(bin, ["-v", "-HR", "-l", "h", "-x", missing, "0", "0", "echo", "hi"]);
      const dropped = await talk(s.port);
      await waitFor(() => s.stderr().includes(" end "));
      await s.stop();
      const x = await startServer(bin, ["-HR", "-X", "-x", missing, "0", "0", "echo", "hi"]);
      const allowed = await talk(x.port);
      await x.stop();
      const log = maskLog(s.stderr(), s.proc.pid).replace(/^\S+: warning/m, "NAME: warning");
      return [dropped.out, log, allowed.out];
    });
    expect(r.poppin[0]).toBe("");
    expect(r.poppin[1]).toContain(`NAME: warning: dropping connection, unable to read ${missing}: file does not exist`);
    expect(r.poppin[2]).toBe("hi\n");
    expect(r.poppin).toEqual(r.debian);
  });

  test("the program is found as pathexec finds it: in serve's own PATH, not a rule's; a file without x bits is 'access denied'", async () => {
    const dir = tempDir("serve-path");
    for (const sub of ["noexec", "rulepath"]) mkdirSync(join(dir, sub));
    writeFileSync(join(dir, "noexec", "prog"), "#!/bin/sh\necho noexec\n", { mode: 0o644 });
    writeFileSync(join(dir, "rulepath", "prog"), "#!/bin/sh\necho rulepath\n", { mode: 0o755 });
    const cdb = join(dir, "rules.cdb");
    const rules = `:allow,PATH="${join(dir, "rulepath")}:/usr/bin:/bin"\n`;
    expect(run([requireTool("tcprules"), cdb, join(dir, "rules.tmp")], { stdin: rules }).code).toBe(0);
    const env = { ...(process.env as Record<string, string>), PATH: `${join(dir, "noexec")}:/usr/bin:/bin` };
    const r = await both(async (bin) => {
      const outs: string[] = [];
      for (const extra of [[], ["-x", cdb]]) {
        const s = await startServer(bin, ["-v", "-HR", "-l", "h", ...extra, "127.0.0.1", "0", "prog"], env);
        const { out } = await talk(s.port);
        await waitFor(() => s.stderr().includes(" end "));
        await s.stop();
        outs.push(`${out}|${maskLog(s.stderr(), s.proc.pid)}`);
      }
      return outs;
    });
    for (const out of r.poppin) {
      expect(out).toStartWith("|");
      expect(out).toContain("tcpserver: warning: dropping connection, unable to run prog: access denied\n");
    }
    expect(r.poppin).toEqual(r.debian);
  });

  test("-B banner comes first", async () => {
    const r = await both(async (bin) => {
      const s = await startServer(bin, ["-HR", "-B", "+OK banner\r\n", "127.0.0.1", "0", "echo", "after"]);
      const { out } = await talk(s.port);
      await s.stop();
      return out;
    });
    expect(r.poppin).toBe("+OK banner\r\nafter\n");
    expect(r.poppin).toBe(r.debian);
  });

  test("-c 1: a second client waits in the backlog (connected, not closed) until the first ends", async () => {
    const r = await both(async (bin) => {
      const s = await startServer(bin, ["-HR", "-c", "1", "127.0.0.1", "0", "sh", "-c", "echo hi; read x; echo bye"]);
      const first = talk(s.port, { send: "1\n", afterFirstOutput: true, sendDelayMs: 600 });
      await Bun.sleep(150);
      const second = talk(s.port, { send: "2\n" });
      const [a, b] = await Promise.all([first, second]);
      await s.stop();
      return { a: a.out, b: b.out, bothClosed: a.closed && b.closed, secondWaited: b.firstDataAt >= a.closedAt - 50 };
    });
    expect(r.poppin).toEqual({ a: "hi\nbye\n", b: "hi\nbye\n", bothClosed: true, secondWaited: true });
    expect(r.poppin).toEqual(r.debian);
  });

  test("HOST as a name: the system resolver (/etc/hosts too; Debian's tcpserver asks DNS only, so ours alone here)", async () => {
    const s = await startServer(applet("tcpserver"), ["-HR", "-l", "n", "localhost", "0", "sh", "-c", "echo $TCPLOCALIP"]);
    const { out } = await talk(s.port);
    await s.stop();
    expect(out).toBe("127.0.0.1\n");
    const bad = run([applet("tcpserver"), "no-such-host.invalid", "0", "true"]);
    expect({ code: bad.code, stderr: bad.stderr }).toEqual({ code: 111, stderr: "tcpserver: fatal: no IP address for no-such-host.invalid\n" });
  });

  test("the rules cdb is read again for every connection (a rebuilt cdb takes effect at once)", async () => {
    const dir = tempDir("serve");
    const cdb = join(dir, "rules.cdb");
    const make = (rules: string) => expect(run([requireTool("tcprules"), cdb, join(dir, "rules.tmp")], { stdin: rules }).code).toBe(0);
    const r = await both(async (bin) => {
      make(":allow,FOO=\"first\"\n");
      const s = await startServer(bin, ["-HR", "-x", cdb, "127.0.0.1", "0", "sh", "-c", "echo $FOO"]);
      const a = await talk(s.port);
      make(":allow,FOO=\"second\"\n");
      const b = await talk(s.port);
      make(":deny\n");
      const c = await talk(s.port);
      await s.stop();
      return [a.out, b.out, c.out];
    });
    expect(r.poppin).toEqual(["first\n", "second\n", ""]);
    expect(r.poppin).toEqual(r.debian);
  });

  test("-t bounds an ident query that gets no answer (identd on 127.0.0.4:113 that never replies)", async () => {
    const silent = Bun.listen({ hostname: "127.0.0.4", port: 113, socket: { data() {} } });
    try {
      const r = await both(async (bin) => {
        const s = await startServer(bin, ["-H", "-l", "h", "-t", "1", "0", "0", "sh", "-c", "echo \"[${TCPREMOTEINFO-unset}]\""]);
        const t0 = performance.now();
        const { out } = await talk(s.port, { localAddress: "127.0.0.4" });
        const waited = performance.now() - t0;
        await s.stop();
        return { out, boundedWait: waited > 800 && waited < 3000 };
      });
      expect(r.poppin).toEqual({ out: "[unset]\n", boundedWait: true });
      expect(r.poppin).toEqual(r.debian);
    } finally {
      silent.stop(true);
    }
  });

  test("-d leaves Nagle on, -D sets TCP_NODELAY (the program reads the socket option)", async () => {
    const probe = ["python3", "-c", "import socket; s=socket.socket(fileno=0); print(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)); s.detach()"];
    requireTool("python3");
    const r = await both(async (bin) => {
      const outs: string[] = [];
      for (const flag of ["-d", "-D"]) {
        const s = await startServer(bin, ["-HR", flag, "127.0.0.1", "0", ...probe]);
        outs.push((await talk(s.port)).out);
        await s.stop();
      }
      return outs;
    });
    expect(r.poppin).toEqual(["0\n", "1\n"]);
    expect(r.poppin).toEqual(r.debian);
  });

  test("usage errors, unknown ports and bind conflicts: same words, same exit codes", async () => {
    const cases = [["-z"], ["-c"], [], ["0", "0"], ["0", "nosuchservice", "true"], ["192.0.2.1", "0", "true"], ["-q", "192.0.2.1", "0", "true"],
      // Numeric hosts as djbdns reads them: no address in "127.1", "1.2.3" or "2130706433"; 300 is 44.
      ["127.1", "0", "true"], ["1.2.3", "0", "true"], ["2130706433", "0", "true"], ["300.1.1.1", "0", "true"]];
    for (const args of cases) {
      const d = run([requireTool("tcpserver"), ...args]);
      const p = run([applet("tcpserver"), ...args]);
      expect({ args, code: p.code, stderr: p.stderr }).toEqual({ args, code: d.code, stderr: d.stderr });
    }
    const holder = await startServer(requireTool("tcpserver"), ["127.0.0.1", "0", "true"]);
    try {
      const d = run([requireTool("tcpserver"), "127.0.0.1", String(holder.port), "true"]);
      const p = run([applet("tcpserver"), "127.0.0.1", String(holder.port), "true"]);
      expect(p.stderr).toBe("tcpserver: fatal: unable to bind: address already used\n");
      expect({ code: p.code, stderr: p.stderr }).toEqual({ code: d.code, stderr: d.stderr });
    } finally {
      await holder.stop();
    }
  });

  test("numeric hosts as djbdns reads them: \"[127.0.0.1]\", \"127.0.0.1.\" and \"127.000.0.1\" bind 127.0.0.1", async () => {
    const r = await both(async (bin) => {
      const outs: string[] = [];
      for (const host of ["[127.0.0.1]", "127.0.0.1.", "127.000.0.1"]) {
        const s = await startServer(bin, ["-HR", "-l", "h", host, "0", "sh", "-c", "echo $TCPLOCALIP"]);
        outs.push((await talk(s.port)).out);
        await s.stop();
      }
      return outs;
    });
    expect(r.poppin).toEqual(["127.0.0.1\n", "127.0.0.1\n", "127.0.0.1\n"]);
    expect(r.poppin).toEqual(r.debian);
  });

  test("-u and -g with a name: tcpserver runs the program as root without a word; serve refuses to start", async () => {
    const debian = await startServer(requireTool("tcpserver"), ["-HR", "-u", "nobody", "-g", "nogroup", "127.0.0.1", "0", "sh", "-c", "id -u; id -g"]);
    const { out } = await talk(debian.port);
    await debian.stop();
    expect(out).toBe("0\n0\n");
    for (const [args, message] of [
      [["-u", "nobody"], "tcpserver: fatal: -u takes a numeric uid, not 'nobody' (tcpserver would run the program as root); envuidgid or -U gives numbers for a name\n"],
      [["-gnogroup"], "tcpserver: fatal: -g takes a numeric gid, not 'nogroup' (tcpserver would keep root's group); envuidgid or -U gives numbers for a name\n"],
      [["-u", "1000x"], "tcpserver: fatal: -u takes a numeric uid, not '1000x' (tcpserver would read it as 1000); envuidgid or -U gives numbers for a name\n"],
    ] as const) {
      const p = run([applet("tcpserver"), ...args, "127.0.0.1", "0", "true"]);
      expect(p.code).toBe(100);
      expect(p.stderr).toStartWith(message);
      expect(p.stderr).toContain("tcpserver: usage: tcpserver ");
    }
  });

  test("-u and -g past 32 bits: tcpserver cuts the number (4294967296 is root); serve refuses it, and says which ids it cannot take", async () => {
    const debian = await startServer(requireTool("tcpserver"), ["-HR", "-u", "4294967296", "127.0.0.1", "0", "sh", "-c", "id -u"]);
    const { out } = await talk(debian.port);
    await debian.stop();
    expect(out).toBe("0\n");
    const cut = run([applet("tcpserver"), "-u", "4294967296", "127.0.0.1", "0", "true"]);
    expect(cut.code).toBe(100);
    expect(cut.stderr).toStartWith("tcpserver: fatal: -u takes a numeric uid from 0 to 4294967294, not '4294967296' (tcpserver would cut it to 32 bits: 0)\n");
    const none = run([applet("tcpserver"), "-g", "4294967295", "127.0.0.1", "0", "true"]);
    expect(none.code).toBe(100);
    expect(none.stderr).toStartWith("tcpserver: fatal: -g takes a numeric gid from 0 to 4294967294, not '4294967295' (tcpserver would cut it to 32 bits: 4294967295)\n");
  });

  test("-u and -g above 2^31 - 1 (valid on Linux, up to 4294967294): the program runs as that user and group, as under tcpserver", async () => {
    const r = await both(async (bin) => {
      const s = await startServer(bin, ["-HR", "-u", "3000000000", "-g", "4294967294", "127.0.0.1", "0", "sh", "-c", "id -u; id -g; id -G; grep -E '^(Uid|Gid|Groups):' /proc/self/status"]);
      const { out } = await talk(s.port);
      await s.stop();
      return out;
    });
    expect(r.poppin).toBe("3000000000\n4294967294\n4294967294\nUid:\t3000000000\t3000000000\t3000000000\t3000000000\nGid:\t4294967294\t4294967294\t4294967294\t4294967294\nGroups:\t4294967294 \n");
    expect(r.poppin).toBe(r.debian);
  });

  test("-u and -g: the program runs as that user and group", async () => {
    const r = await both(async (bin) => {
      const s = await startServer(bin, ["-HR", "-u", "65534", "-g", "65534", "127.0.0.1", "0", "sh", "-c", "id -u; id -g; id -G"]);
      const { out } = await talk(s.port);
      await s.stop();
      return out;
    });
    expect(r.poppin).toBe("65534\n65534\n65534\n");
    expect(r.poppin).toBe(r.debian);
  });
});
