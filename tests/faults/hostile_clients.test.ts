/**
 * Hostile clients against serve running the classic chain: a flood of connections that
 * never send a byte (far beyond -c and --per-ip) from one address, slowloris clients
 * (one byte every half second) from another, and connections from many addresses beyond
 * -c. Meanwhile a well-behaved client from its own address must keep logging in and
 * reading its mailbox, every session bounded in time, and serve's memory must stay bounded.
 */
import { afterAll, expect, test } from "bun:test";
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { applet, tempDir } from "../helpers.ts";
import { deliverId, chownBox, LOGIN, makeFaultBox, PASSWORD } from "./chain_fixture.ts";

const sockets: Socket[] = [];
let server: ChildProcess | undefined;
afterAll(() => {
  for (const s of sockets) s.destroy();
  server?.kill("SIGKILL");
});

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "latin1"));
  return m ? Number(m[1]) : 0;
}

function open(port: number, from: string): Socket {
  const s = connect({ host: "127.0.0.1", port, localAddress: from });
  s.on("error", () => {});
  s.setTimeout(60_000, () => s.destroy());
  sockets.push(s);
  return s;
}

/**
 * One polite session from `from`: log in, STAT, QUIT; resolves with the time it took (and how
 * many connections it needed), rejects after `ms`. Like a real client it gives up on a
 * connection that brings no greeting within `greetingMs` and connects again: under a SYN flood
 * the kernel answers with SYN cookies, and the final ACK of a handshake that arrives while the
 * listen queue is full is dropped, so the client holds a connection the server never had (it
 * would wait for a greeting for ever; mpop, fetchmail and getmail time out the same way).
 */
function politeSession(port: number, from: string, ms: number, greetingMs = 5_000): Promise<{ ms: number; tries: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    let tries = 0;
    let text = "";
    let s: Socket | undefined;
    let greetingTimer: ReturnType<typeof setTimeout> | undefined;
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(overall);
      clearTimeout(greetingTimer);
      s?.destroy();
      if (err) reject(err);
      else resolve({ ms: Date.now() - started, tries });
    };
    const overall = setTimeout(() => finish(new Error(`polite session took over ${ms} ms (${tries} connections): ${JSON.stringify(text)}`)), ms);
    const attempt = () => {
      tries++;
      text = "";
      let step = 0;
      const sock = connect({ host: "127.0.0.1", port, localAddress: from });
      s = sock;
      greetingTimer = setTimeout(() => {
        if (text !== "" || settled) return;
        sock.removeAllListeners("close");
        sock.on("error", () => {});
        sock.destroy();
        attempt();
      }, greetingMs);
      const script = [`USER ${LOGIN}\r\n`, `PASS ${PASSWORD}\r\n`, "STAT\r\n", "QUIT\r\n"];
      sock.on("data", (d: Buffer) => {
        text += d.toString("latin1");
        const answers = text.split("\r\n").length - 1;
        if (answers > step && step < script.length) sock.write(script[step++]!);
        if (/\+OK \d+ \d+\r\n\+OK/.test(text)) finish();
      });
      sock.on("error", (e) => finish(e));
      sock.on("close", () => finish(new Error(`closed early: ${JSON.stringify(text)}`)));
    };
    attempt();
  });
}

test("floods, slowloris and idle connections beyond -c and --per-ip: a polite client is still served, memory bounded", async () => {
  const box = makeFaultBox(tempDir("hostile"));
  for (let i = 0; i < 3; i++) deliverId(box, `h${i}`);
  chownBox(box);
  server = spawn(applet("tcpserver"), [
    "-1", "-v", "-R", "-H", "-c", "16", "--per-ip", "3", "-b", "64", "127.0.0.1", "0",
    applet("qmail-popup"), "pop.example.org", applet("checkpassword"), applet("qmail-pop3d"), "Maildir",
  ], { cwd: box.home, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", POPPIN_USERDB: box.userdb }, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  server.stderr!.on("data", (d: Buffer) => { log += d.toString("latin1"); });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no port: ${log}`)), 10_000);
    server!.stdout!.once("data", (d: Buffer) => { clearTimeout(timer); resolve(Number(d.toString().trim())); });
  });
  const pid = server.pid!;
  expect((await politeSession(port, "127.0.0.9", 10_000)).tries).toBe(1);
  const rssBefore = rssKb(pid);

  // 1,500 connections (far beyond -c and --per-ip) that never send a byte, from one address.
  for (let i = 0; i < 1500; i++) open(port, "127.0.0.2");
  // 12 slowloris clients from another, one byte every 500 ms.
  const slow = Array.from({ length: 12 }, () => open(port, "127.0.0.3"));
  const drip = setInterval(() => { for (const s of slow) if (!s.destroyed) s.write("U"); }, 500);
  // 8 idle connections from 8 addresses (with the 6 above, 14 of 16 slots).
  for (let i = 0; i < 8; i++) open(port, `127.0.1.${i + 1}`);

  try {
    const times: string[] = [];
    // The first one connects while the flood fills the listen queue (-b 64): the kernel drops its
    // SYN until serve has taken the queue in and retries it 1, 3, 7, 15 s later, or completes it
    // with a SYN cookie it then loses (see politeSession); on a loaded machine it may take past
    // 15 s to be accepted. Once accepted, it is served at once.
    for (let i = 0; i < 8; i++) {
      const r = await politeSession(port, "127.0.0.9", i === 0 ? 40_000 : 15_000);
      times.push(r.tries > 1 ? `${r.ms} (${r.tries} connections)` : `${r.ms}`);
    }
    expect(times.length).toBe(8);
    // The per-ip cap did its work: the flood and the slowloris clients got 3 children each, the
    // rest of them were dropped at once (how fast the flood arrives is up to the kernel's backlog).
    const lines = () => log.split("\n");
    const drops = () => lines().filter((l) => l.includes("127.0.0.2 already has 3 connections")).length;
    for (const deadline = Date.now() + 20_000; drops() < 200 && Date.now() < deadline;) await Bun.sleep(100);
    const perIpDrops = drops();
    expect(perIpDrops).toBeGreaterThanOrEqual(200);
    expect(lines().filter((l) => /^tcpserver: ok \d+ \S+ :127\.0\.0\.2::/.test(l)).length).toBe(3);
    expect(lines().filter((l) => /^tcpserver: ok \d+ \S+ :127\.0\.0\.3::/.test(l)).length).toBe(3);
    // The flood is taken in: one connection, served at once.
    expect((await politeSession(port, "127.0.0.9", 15_000)).tries).toBe(1);
    const rssAfter = rssKb(pid);
    expect(rssAfter - rssBefore).toBeLessThan(64 * 1024);
    console.error(`hostile: polite sessions ${times.join(", ")} ms; serve RSS ${rssBefore} -> ${rssAfter} kB; ${perIpDrops} per-ip drops`);
  } finally {
    clearInterval(drip);
    for (const s of sockets.splice(0)) s.destroy();
  }
  // Everything closed: served as before.
  expect((await politeSession(port, "127.0.0.9", 10_000)).tries).toBe(1);
}, 110_000);
