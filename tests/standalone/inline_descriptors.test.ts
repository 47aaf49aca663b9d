/**
 * serve --inline holds every connection in its own process, so clients can bring it to its
 * descriptor limit (ulimit -n). There it must stop accepting (clients wait in the backlog, as at
 * the -c limit) instead of spinning on a listening socket that stays readable, and accept again
 * once connections close.
 */
import { afterAll, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import net from "node:net";
import { POPPIN } from "../helpers.ts";
import { MAIL_GID, MAIL_UID, startServer, talk, virtualSetup, type Running } from "./harness.ts";

const chain = [POPPIN, "popup", "mail.example", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"];
const setup = virtualSetup(["Subject: a\n\nbody\n"]);
const servers: Running[] = [];
afterAll(async () => {
  for (const s of servers) if (s.proc.exitCode === null) await s.stop();
});

/** CPU time (user + system) of `pid` in clock ticks. */
function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "latin1").replace(/^.*\) /, "").split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

function openConnections(port: number, count: number): Promise<net.Socket[]> {
  return Promise.all(Array.from({ length: count }, () => new Promise<net.Socket>((resolve) => {
    const sock = net.connect({ host: "127.0.0.1", port }, () => resolve(sock));
    sock.on("error", () => {});
  })));
}

test("at its descriptor limit serve --inline stops accepting without spinning, and serves again once clients leave", async () => {
  const s = await startServer(["prlimit", "--nofile=64:64", "--", POPPIN, "serve", "--inline", "-R", "-H", "-1", "-c", "200", "-b", "200", "-u", String(MAIL_UID), "-g", String(MAIL_GID), "127.0.0.1", "0", ...chain],
    { POPPIN_USERDB: setup.userdb, POPPIN_TIMEOUT: "60", POPPIN_STOP_SECONDS: "0" });
  servers.push(s);
  const pid = s.proc.pid;
  expect((await talk(s.port, "USER joe\r\nPASS secret\r\nSTAT\r\nQUIT\r\n")).toString()).toContain("+OK 1 ");
  const baseline = readdirSync(`/proc/${pid}/fd`).length;
  // More clients than descriptors: the kernel's backlog holds those serve does not accept.
  const held = await openConnections(s.port, 100);
  // (-b 200: no client waits for a SYN retry.) Wait until serve is at the edge.
  for (let i = 0; i < 80 && readdirSync(`/proc/${pid}/fd`).length < 56; i++) await Bun.sleep(100);
  await Bun.sleep(300);
  const before = cpuTicks(pid);
  await Bun.sleep(2000);
  const used = (cpuTicks(pid) - before) / 2; // ticks per second (100 = one full core)
  console.log(`idle CPU at the descriptor limit: ${used} ticks/s, descriptors ${readdirSync(`/proc/${pid}/fd`).length} of 64`);
  // Spinning in accept, this was 80 to 100 (a whole core) for as long as the clients stayed.
  expect(used).toBeLessThan(25);
  expect(readdirSync(`/proc/${pid}/fd`).length).toBeLessThanOrEqual(64);
  for (let i = 0; i < 20 && !s.log().includes("descriptors allowed"); i++) await Bun.sleep(100);
  expect(s.log()).toContain("warning: 64 descriptors allowed (ulimit -n) and nearly all in use");
  for (const sock of held) sock.destroy();
  // Accepting again: a login is served, and the descriptors go back to where they were.
  const reply = await talk(s.port, "USER joe\r\nPASS secret\r\nSTAT\r\nQUIT\r\n", 15_000);
  expect(reply.toString()).toContain("+OK 1 ");
  let now = 0;
  for (let i = 0; i < 50; i++) {
    now = readdirSync(`/proc/${pid}/fd`).length;
    if (now <= baseline) break;
    await Bun.sleep(100);
  }
  expect(now).toBeLessThanOrEqual(baseline);
  // Told at start: -c 200 cannot be met with 64 descriptors.
  expect(s.log()).toMatch(/warning: -c 200 needs more descriptors than ulimit -n 64 allows: about \d+ connections at a time/);
}, 30_000);
