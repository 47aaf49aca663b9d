import { describe, expect, test } from "bun:test";
import { addressMatches, canonicalIp6, unmapIp } from "../../mod/serve/address.ts";
import { childEnvironment } from "../../mod/serve/environment.ts";
import { IDENT_REPLY_MAX, IdentReply } from "../../mod/serve/ident.ts";
import { ConnectionLimits } from "../../mod/serve/limits.ts";
import { safeField, verdictLine, waitStatus } from "../../mod/serve/log_lines.ts";
import { parseServeArgs, scanUlong } from "../../mod/serve/options.ts";
import { resolvePort, servicePort } from "../../mod/serve/services.ts";

describe("serve library", () => {
  test("options: djb getopt clusters, attached and separate arguments, defaults", () => {
    const r = parseServeArgs(["-vHc5", "-x", "r.cdb", "-B", "hi", "-l0", "0", "pop3", "prog", "-a"], {});
    expect(r.kind).toBe("ok");
    if (r.kind !== "ok") return;
    expect(r.options).toMatchObject({ verbosity: 2, remoteHost: false, limit: 5, rulesPath: "r.cdb", banner: "hi", localName: "0", host: "0", port: "pop3", program: ["prog", "-a"], remoteInfo: true, backlog: 20, timeout: 26 });
    expect(parseServeArgs(["-z"], {})).toEqual({ kind: "usage", complaint: "illegal option -- z", silent: false });
    expect(parseServeArgs(["-q", "0", "0"], {})).toEqual({ kind: "usage", silent: true });
    const u = parseServeArgs(["-U", "0", "0", "p"], { UID: "12", GID: "34x" });
    expect(u.kind === "ok" && [u.options.uid, u.options.gid]).toEqual([12, 34]);
    const longs = parseServeArgs(["--per-ip=3", "--proxy", "--proxy-from", "10.0.,::1", "--systemd", "prog"], {});
    expect(longs.kind === "ok" && longs.options).toMatchObject({ perIp: 3, proxy: true, proxyFrom: ["10.0.", "::1"], systemd: true, program: ["prog"] });
    expect(parseServeArgs(["--proxy", "0", "0", "p"], {}).kind).toBe("usage");
    expect(scanUlong("12ab")).toEqual({ value: 12, used: 2 });
  });

  test("ports: digits (16 bits, empty is 0) or /etc/services names with aliases", () => {
    const services = "pop3\t\t110/tcp\t\tpop-3\t# POP version 3\nqmqp 628/udp\nqmqp 628/tcp\n";
    expect(servicePort(services, "pop-3")).toBe(110);
    expect(servicePort(services, "qmqp")).toBe(628);
    expect(servicePort(services, "imap")).toBeUndefined();
    expect(resolvePort("65537", () => "")).toBe(1);
    expect(resolvePort("", () => "")).toBe(0);
    expect(resolvePort("pop3")).toBe(110);
    expect(resolvePort("pop3s")).toBe(995);
  });

  test("addresses: unmapping, canonical IPv6, --proxy-from matching", () => {
    expect(unmapIp("::ffff:192.0.2.1")).toBe("192.0.2.1");
    expect(unmapIp("::1")).toBe("::1");
    expect(canonicalIp6("2001:DB8:0:0:0:0:0:1")).toBe("2001:db8::1");
    expect(canonicalIp6("1:0:0:2:0:0:0:3")).toBe("1:0:0:2::3");
    expect(addressMatches("10.1.2.3", "10.1.")).toBe(true);
    expect(addressMatches("10.11.2.3", "10.1.")).toBe(false);
    expect(addressMatches("10.1.2.3", "10.0.0.0/8")).toBe(true);
    expect(addressMatches("11.1.2.3", "10.0.0.0/8")).toBe(false);
    expect(addressMatches("2001:db8::5", "2001:db8::/32")).toBe(true);
    expect(addressMatches("2001:db9::5", "2001:db8::/32")).toBe(false);
  });

  test("environment: set and unset as tcpserver, TCP6 variables on IPv6 sockets, rule variables last", () => {
    const base = { PATH: "/bin", TCPREMOTEHOST: "stale", TCPREMOTEINFO: "stale", LISTEN_FDS: "1", KEEP: "x" };
    const env = childEnvironment(base, { ipv6Socket: false, localIp: "127.0.0.1", localPort: 110, localHost: undefined, remoteIp: "127.0.0.2", remotePort: 4000, remoteHost: undefined, remoteInfo: undefined }, [{ name: "RELAYCLIENT", value: "" }, { name: "KEEP", value: null }]);
    expect(env).toEqual({ PATH: "/bin", PROTO: "TCP", TCPLOCALIP: "127.0.0.1", TCPLOCALPORT: "110", TCPREMOTEIP: "127.0.0.2", TCPREMOTEPORT: "4000", RELAYCLIENT: "" });
    const six = childEnvironment({}, { ipv6Socket: true, localIp: "::1", localPort: 1, localHost: "l", remoteIp: "::1", remotePort: 2, remoteHost: "r", remoteInfo: "i" }, []);
    expect(six).toMatchObject({ PROTO: "TCP6", TCP6LOCALIP: "::1", TCP6REMOTEIP: "::1", TCP6REMOTEHOST: "r", TCPREMOTEINFO: "i", TCP6LOCALHOST: "l" });
  });

  test("log lines: safecats, ok line layout, wait status", () => {
    expect(safeField("a b:c%d\u00e9")).toBe("a?b?c?d??"); // é is two bytes in UTF-8: two '?', as tcpserver writes
    expect(safeField("x".repeat(101))).toBe(`${"x".repeat(100)}...`);
    expect(verdictLine(true, 7, { ipv6Socket: false, localIp: "127.0.0.1", localPort: 110, localHost: "h", remoteIp: "127.0.0.1", remotePort: 1025, remoteHost: undefined, remoteInfo: undefined }))
      .toBe("tcpserver: ok 7 h:127.0.0.1:110 :127.0.0.1::1025\n");
    expect(waitStatus(1, null)).toBe(256);
    expect(waitStatus(null, "SIGTERM")).toBe(15);
  });

  test("ident answers: text after the third colon, blanks dropped, bounded", () => {
    const r = new IdentReply();
    expect(r.feed(new TextEncoder().encode("6193, 23 : USERID : UNIX :"))).toBeUndefined();
    expect(r.feed(new TextEncoder().encode(" stjohns \r\nmore"))).toBe("stjohns");
    expect(new IdentReply().feed(new TextEncoder().encode(`1,2:USERID:UNIX:${"a".repeat(300)}\n`))).toHaveLength(257);
    expect(new IdentReply().feed(new TextEncoder().encode("1,2:USERID:UNIX:j\u00f6rg\n"))).toBe("j\u00f6rg");

    // An identd that streams octets with no newline (or never its three colons) gets no answer
    // after IDENT_REPLY_MAX octets, instead of being read for the whole -t.
    const endless = new IdentReply();
    let fed = 0;
    while (!endless.tooLong && fed < 10 * IDENT_REPLY_MAX) {
      expect(endless.feed(new TextEncoder().encode("x".repeat(100)))).toBeUndefined();
      fed += 100;
    }
    expect(endless.tooLong).toBe(true);
    expect(fed).toBeLessThanOrEqual(IDENT_REPLY_MAX + 100);
    const noColons = new IdentReply();
    expect(noColons.feed(new TextEncoder().encode(`${"1".repeat(IDENT_REPLY_MAX + 1)}\n`))).toBeUndefined();
    expect(noColons.tooLong).toBe(true);
    // A long answer within the bound is still whole.
    const padded = new IdentReply();
    expect(padded.feed(new TextEncoder().encode(`1 , 2 : USERID : UNIX${" ".repeat(500)}: joe\r\n`))).toBe("joe");
    expect(padded.tooLong).toBe(false);
    // A NUL ends the answer's text, as tcpserver's C string ends there.
    expect(new IdentReply().feed(new Uint8Array([...new TextEncoder().encode("1,2:USERID:UNIX:jo"), 0, 0x65, 0x0d, 0x0a]))).toBe("jo");
  });

  test("limits: total and per address", () => {
    const l = new ConnectionLimits(2, 1);
    l.open(); expect(l.full).toBe(false); l.open(); expect(l.full).toBe(true); l.close(); expect(l.children).toBe(1);
    expect(l.claimAddress("a")).toBe(true);
    expect(l.claimAddress("a")).toBe(false);
    expect(l.claimAddress("b")).toBe(true);
    l.releaseAddress("a");
    expect(l.claimAddress("a")).toBe(true);
    // An IPv6 client is one /64: a new address of it for each connection gets no more.
    const v6 = new ConnectionLimits(10, 2);
    expect(v6.claimAddress("2001:db8:1:2::1")).toBe(true);
    expect(v6.claimAddress("2001:db8:1:2:aaaa::7")).toBe(true);
    expect(v6.claimAddress("2001:db8:1:2:ffff:ffff:ffff:ffff")).toBe(false);
    expect(v6.claimAddress("2001:db8:1:3::1")).toBe(true);
    v6.releaseAddress("2001:db8:1:2::1");
    expect(v6.claimAddress("2001:db8:1:2::9")).toBe(true);
  });
});
