/**
 * Host name lookups against a resolver that never answers or answers late: the lookup a
 * hostile client controls (the PTR of its address, and with -p the address of the name it
 * gives) must not hold up its own connection for long, other clients, or serve's threads and
 * descriptors; the client then gets no TCPREMOTEHOST, as tcpserver does. Both hosts: a program
 * per connection and --inline. Debian's tcpserver runs beside them under the same resolver for
 * the environment and log lines of a lookup that fails (for a PTR that never comes it ends the
 * same way, after 60 s of djbdns's retries).
 *
 * Each server runs in a mount namespace of its own whose resolv.conf names the test's DNS
 * server (dns_harness.ts). Bounds on time here are generous: they tell "served" from "hung".
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import net from "node:net";
import { applet, requireTool, startPortServer, tempDir, type PortServer } from "../helpers.ts";
import { startDns, withResolver, type DnsServer } from "./dns_harness.ts";
import { maskLog, talk } from "./harness.ts";

const SERVER_IP = "127.0.0.2";
const PATH = process.env.PATH ?? "/usr/bin:/bin";
/** What a classic program shows of its environment: one line, then it ends. */
const ENV_LINE = ["sh", "-c", "echo \"+OK host=${TCPREMOTEHOST-unset} local=${TCPLOCALHOST-unset}\""];
const INLINE = () => [applet("qmail-popup"), "pop.example.org", applet("checkpassword"), applet("qmail-pop3d"), "Maildir"];
/** A flood's connections arrive at once: a backlog that holds them (with the default 20, the loopback drops the rest). */
const FLOOD_ROOM = ["-b", "300", "-c", "300"];
const HOSTS = [["a program per connection", false], ["--inline", true]] as const;

/** The client addresses of a flood: 127.0.N.1, 127.0.N.2, ... */
const flood = (n: number, count: number): string[] => Array.from({ length: count }, (_, i) => `127.0.${n}.${i + 1}`);

let dns: DnsServer;
let wrap: (argv: string[]) => string[];
const servers: PortServer[] = [];

beforeAll(async () => {
  dns = await startDns([
    `2.0.0.127.in-addr.arpa=ptr:pop.example.org`,
    `3.0.0.127.in-addr.arpa=hang`,
    `4.0.0.127.in-addr.arpa=ptr:four.example.org`,
    `four.example.org=a:127.0.0.4`,
    `5.0.0.127.in-addr.arpa=delay:1:ptr:five.example.org`,
    `6.0.0.127.in-addr.arpa=ptr:six.corp.local`,
    `six.corp.local=a:127.0.0.6`,
    `8.0.0.127.in-addr.arpa=delay:9:ptr:late.example.org`,
    // Names a hostile reverse zone may give.
    `11.0.0.127.in-addr.arpa=ptr:MAIL.Example.ORG`,
    `12.0.0.127.in-addr.arpa=ptr:a:b%c.example`,
    `14.0.0.127.in-addr.arpa=ptr:sp ace.example`,
    `15.0.0.127.in-addr.arpa=ptr:nl\nx.example`,
    `16.0.0.127.in-addr.arpa=ptr:bs\\x.example`,
    `18.0.0.127.in-addr.arpa=ptr:forged.example`,
    `forged.example=a:127.0.0.99`,
    // Floods: reverse zones that hang, or answer with a name whose address never comes.
    `*.3.0.127.in-addr.arpa=hang`,
    `*.7.0.127.in-addr.arpa=truncated`,
    `*.5.0.127.in-addr.arpa=ptr:h{}.evil.example`,
    `*.evil.example=hang`,
    `*.6.0.127.in-addr.arpa=ptr:h{}.corp.local`,
    `*.corp.local=hang`,
  ]);
  wrap = withResolver(tempDir("slow-resolver"), dns);
});

afterAll(async () => {
  for (const s of servers) await s.stop();
  await dns?.stop();
});

async function serve(inline: boolean, flags: string[]): Promise<PortServer> {
  const argv = [applet("tcpserver"), ...(inline ? ["--inline"] : []), "-1", "-v", "-R", ...flags, SERVER_IP, "0", ...(inline ? INLINE() : ENV_LINE)];
  const s = await startPortServer(wrap(argv), { env: { PATH } });
  servers.push(s);
  return s;
}

/** The first line a client from `from` gets (empty if none within `timeoutMs`); it then hangs up. */
function firstLine(port: number, from: string, timeoutMs = 30_000, hangUpAtOnce = false): Promise<string> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: SERVER_IP, localAddress: from });
    let got = "";
    const done = () => { clearTimeout(timer); sock.destroy(); resolve(got.split("\n")[0] ?? ""); };
    const timer = setTimeout(done, timeoutMs);
    if (hangUpAtOnce) sock.on("connect", done);
    sock.on("data", (d) => { got += d.toString("latin1"); if (got.includes("\n")) done(); });
    sock.on("error", done);
    sock.on("close", done);
  });
}

/** The host field of the ok line for a client from `ip` ("" when TCPREMOTEHOST is unset). */
function okHost(log: string, ip: string): string[] {
  return log.split("\n").flatMap((l) => {
    const m = /^tcpserver: ok \d+ \S+ (.*):([0-9.]+):[^:]*:\d+$/.exec(l);
    return m && m[2] === ip ? [m[1]] : [];
  });
}

/** The clients whose PTRs give odd names (tcpserver_interop-style comparison). */
const NAMED = ["127.0.0.11", "127.0.0.12", "127.0.0.14", "127.0.0.15", "127.0.0.16"];

/** TCPREMOTEHOST as `server` (with its flags) sets it for each client in turn, and its masked log. */
async function printedHosts(server: string[], clients: string[]): Promise<{ out: string[]; log: string }> {
  const PRINT_HOST = ["sh", "-c", "printf '%s|\\n' \"$TCPREMOTEHOST\""];
  const s = await startPortServer(wrap([...server, "-1", "-v", "-R", SERVER_IP, "0", ...PRINT_HOST]), { env: { PATH } });
  servers.push(s);
  const out: string[] = [];
  for (const ip of clients) {
    out.push((await talk(s.port, { host: SERVER_IP, localAddress: ip, timeoutMs: 30_000 })).out);
    // One connection at a time, its end logged before the next: the same order of lines in both.
    await until(() => (s.log().match(/tcpserver: end /g) ?? []).length === out.length && s.log().endsWith("status: 0/40\n"));
  }
  await s.stop();
  return { out, log: maskLog(s.log()) };
}

async function until(probe: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!probe() && Date.now() < deadline) await Bun.sleep(20);
}

function descriptors(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

describe("serve under a resolver that never answers or answers late", () => {

  test("names with upper case, spaces, colons, a newline or a backslash: TCPREMOTEHOST and the ok line as Debian's tcpserver's", async () => {
    const [theirs, ours] = await Promise.all([printedHosts([requireTool("tcpserver")], NAMED), printedHosts([applet("tcpserver")], NAMED)]);
    expect(theirs.out).toEqual(["mail.example.org|\n", "a\\072b\\045c.example|\n", "sp\\040ace.example|\n", "nl\\012x.example|\n", "bs\\134x.example|\n"]);
    expect(ours).toEqual(theirs);
  }, 60_000);

  test("-p: a name that resolves back is kept, a forged one is dropped, as by Debian's tcpserver", async () => {
    const clients = ["127.0.0.4", "127.0.0.18"];
    const [theirs, ours] = await Promise.all([printedHosts([requireTool("tcpserver"), "-p"], clients), printedHosts([applet("tcpserver"), "-p"], clients)]);
    expect(theirs.out).toEqual(["four.example.org|\n", "|\n"]);
    expect(ours).toEqual(theirs);
    expect(theirs.log).toContain("tcpserver: ok PID pop.example.org:127.0.0.2:PORT :127.0.0.18::PORT");
  }, 60_000);

  // The cases below start servers of their own and look only at those servers' logs: they run
  // side by side (each waits out 5 s lookups), both hosts at once.
  describe.each(HOSTS)("%s", (_name, inline) => {
    test.concurrent("a PTR answered in 1 s names the client; one answered after the 5 s wait does not, and the client is served", async () => {
      const s = await serve(inline, []);
      const [soon, late] = await Promise.all([firstLine(s.port, "127.0.0.5"), firstLine(s.port, "127.0.0.8")]);
      expect(soon).toStartWith("+OK");
      expect(late).toStartWith("+OK");
      if (!inline) expect([soon, late]).toEqual(["+OK host=five.example.org local=pop.example.org", "+OK host=unset local=pop.example.org"]);
      await until(() => okHost(s.log(), "127.0.0.8").length > 0 && okHost(s.log(), "127.0.0.5").length > 0);
      expect([okHost(s.log(), "127.0.0.5"), okHost(s.log(), "127.0.0.8")]).toEqual([["five.example.org"], [""]]);
    }, 60_000);

    test.concurrent("200 clients whose PTRs hang (50 of them after a truncated answer, over TCP): each is served without a name, other clients keep theirs, descriptors come back", async () => {
      const s = await serve(inline, FLOOD_ROOM);
      const pid = s.proc.pid;
      await firstLine(s.port, "127.0.0.4");
      const before = descriptors(pid);
      const floods = [...flood(3, 150), ...flood(7, 50)].map((ip) => firstLine(s.port, ip, 60_000));
      await until(() => (s.log().match(/status: /g) ?? []).length > 150, 10_000);
      const during = await firstLine(s.port, "127.0.0.4", 30_000);
      const lines = await Promise.all(floods);
      expect(lines.filter((l) => !l.startsWith("+OK")).length).toBe(0);
      if (!inline) expect(new Set(lines)).toEqual(new Set(["+OK host=unset local=pop.example.org"]));
      if (!inline) expect(during).toBe("+OK host=four.example.org local=pop.example.org");
      await until(() => s.log().endsWith("tcpserver: status: 0/300\n"));
      expect(okHost(s.log(), "127.0.0.4")).toEqual(["four.example.org", "four.example.org"]);
      expect([okHost(s.log(), "127.0.3.77"), okHost(s.log(), "127.0.7.7")]).toEqual([[""], [""]]);
      expect(dns.questions().some((q) => /^PTR \d+\.7\.0\.127\.in-addr\.arpa tcp$/.test(q))).toBe(true);
      // The resolver's sockets may stay open; a descriptor per lookup would show here.
      expect(descriptors(pid)).toBeLessThan(before + 8);
    }, 90_000);

    test.concurrent("-p: 100 clients whose names never resolve (some under .local) do not hold up other clients' checks", async () => {
      const s = await serve(inline, ["-p", ...FLOOD_ROOM]);
      const floods = [...flood(5, 50), ...flood(6, 50)].map((ip) => firstLine(s.port, ip, 60_000));
      await until(() => dns.questions().filter((q) => /^A h\d+\.(evil\.example|corp\.local)$/.test(q)).length >= 20, 10_000);
      const [four, six] = await Promise.all([firstLine(s.port, "127.0.0.4", 30_000), firstLine(s.port, "127.0.0.6", 30_000)]);
      if (!inline) expect([four, six]).toEqual(["+OK host=four.example.org local=pop.example.org", "+OK host=six.corp.local local=pop.example.org"]);
      const lines = await Promise.all(floods);
      expect(lines.filter((l) => !l.startsWith("+OK")).length).toBe(0);
      await until(() => s.log().endsWith("tcpserver: status: 0/300\n"));
      expect([okHost(s.log(), "127.0.0.4"), okHost(s.log(), "127.0.0.6")]).toEqual([["four.example.org"], ["six.corp.local"]]);
      expect([okHost(s.log(), "127.0.5.9"), okHost(s.log(), "127.0.6.9")]).toEqual([[""], [""]]);
    }, 90_000);

    test.concurrent("-c 3: clients whose lookups hang (two of them gone at once) take a slot each until served, never more than 3", async () => {
      const s = await serve(inline, ["-c", "3"]);
      const ips = flood(3, 7);
      const lines = await Promise.all(ips.map((ip, i) => firstLine(s.port, ip, 60_000, i < 2)));
      expect(lines.slice(2).filter((l) => !l.startsWith("+OK")).length).toBe(0);
      await until(() => (s.log().match(/tcpserver: end /g) ?? []).length === 7 && s.log().endsWith("tcpserver: status: 0/3\n"));
      const counts = [...s.log().matchAll(/tcpserver: status: (\d+)\/3/g)].map((m) => Number(m[1]));
      expect(Math.max(...counts)).toBe(3);
      expect(counts.at(-1)).toBe(0);
      expect((s.log().match(/tcpserver: end /g) ?? []).length).toBe(7);
      for (const ip of ips) expect(okHost(s.log(), ip)).toEqual([""]);
    }, 90_000);
  });
  // A PTR that never comes leaves tcpserver where one that fails leaves it, after djbdns's
  // 60 s of retries: the reference here is Debian's tcpserver for a client whose PTR is
  // NXDOMAIN (127.0.0.9), at once; serve must give a client whose PTR hangs (127.0.0.3) the same
  // environment and log lines, after its 5 s wait.
  test("a PTR that never comes: served without TCPREMOTEHOST, environment and log lines as Debian's tcpserver's for a failed lookup", async () => {
    const PRINT_ENV = ["sh", "-c", "env | grep -E '^(PROTO|TCP)' | sort"];
    const debian = await startPortServer(wrap([requireTool("tcpserver"), "-1", "-v", "-R", SERVER_IP, "0", ...PRINT_ENV]), { env: { PATH } });
    servers.push(debian);
    const ours = await startPortServer(wrap([applet("tcpserver"), "-1", "-v", "-R", SERVER_IP, "0", ...PRINT_ENV]), { env: { PATH } });
    servers.push(ours);
    const inline = await serve(true, []);
    const [reference, mine, greeting] = await Promise.all([
      talk(debian.port, { host: SERVER_IP, localAddress: "127.0.0.9", timeoutMs: 30_000 }),
      talk(ours.port, { host: SERVER_IP, localAddress: "127.0.0.3", timeoutMs: 30_000 }),
      firstLine(inline.port, "127.0.0.3"),
    ]);
    // Served within the bound (serve waits 5 s for a name).
    expect(mine.closed).toBe(true);
    expect(greeting).toStartWith("+OK ");
    expect(reference.closed).toBe(true);
    const client = (text: string) => text.replace(/127\.0\.0\.[39]\b/g, "CLIENT");
    const env = (out: string) => client(out).replace(/(PORT)=\d+/g, "$1=N");
    expect(env(mine.out)).toBe(env(reference.out));
    expect(reference.out).not.toContain("TCPREMOTEHOST");
    expect(reference.out).toContain("TCPLOCALHOST=pop.example.org\n");
    await until(() => inline.log().includes("tcpserver: ok ") && [debian, ours].every((x) => x.log().endsWith("tcpserver: status: 0/40\n")));
    await Promise.all([debian.stop(), ours.stop()]);
    expect(client(maskLog(ours.log()))).toBe(client(maskLog(debian.log())));
    expect(maskLog(debian.log())).toContain("tcpserver: ok PID pop.example.org:127.0.0.2:PORT :127.0.0.9::PORT");
    expect(maskLog(inline.log(), inline.proc.pid)).toContain("tcpserver: ok PID pop.example.org:127.0.0.2:PORT :127.0.0.3::PORT");
    expect(dns.questions()).toContain("PTR 3.0.0.127.in-addr.arpa");
    expect(dns.questions()).toContain("PTR 9.0.0.127.in-addr.arpa");
  }, 60_000);
});
