/**
 * serve --inline holds every session in one process, so no client may make it hold
 * unbounded memory: clients that pipeline commands and never read their answers (before
 * login, CAPA; after login, UIDL on a big mailbox) stop being read once their unsent
 * output reaches the per-connection bound. The server's RSS stays bounded, a polite client
 * is served meanwhile, and a client that pipelines a lot but reads gets every answer.
 */
import { afterAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
import { join } from "node:path";
import { POPPIN, run } from "../helpers.ts";
import { makeCertificate } from "../tls/harness.ts";
import { MAIL_GID, MAIL_UID, startServer, talk, virtualSetup, type Running } from "./harness.ts";

const chain = [POPPIN, "popup", "mail.example", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"];
const setup = virtualSetup(Array.from({ length: 1500 }, (_, i) => `Subject: ${i}\n\nbody ${i}\n`));
const servers: Running[] = [];
afterAll(async () => {
  for (const s of servers) if (s.proc.exitCode === null) await s.stop();
});

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "latin1"));
  return m ? Number(m[1]) : 0;
}

/** Python clients (no userland buffering, a 4 KB receive buffer) that send `first`, then `flood` for `seconds`, and never read. */
function hostileClients(port: number, count: number, first: string, flood: string, seconds: number, tls = false) {
  return Bun.spawn(["python3", "-c", `
import socket, ssl, threading, time
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
def run():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", ${port}))
    if ${tls ? "True" : "False"}: s = ctx.wrap_socket(s)
    s.sendall(${JSON.stringify(first)}.encode())
    s.settimeout(0.2); chunk = ${JSON.stringify(flood)}.encode() * 500; end = time.time() + ${seconds}
    while time.time() < end:
        try: s.send(chunk)
        except (socket.timeout, ssl.SSLWantWriteError): pass
        except OSError: break
threads = [threading.Thread(target=run) for _ in range(${count})]
[t.start() for t in threads]; [t.join() for t in threads]
`], { stdout: "ignore", stderr: "inherit" });
}

test("clients that pipeline and never read (CAPA before login, UIDL after) hold bounded memory; a polite client is served meanwhile", async () => {
  const s = await startServer([POPPIN, "serve", "--inline", "-R", "-H", "-1", "-u", String(MAIL_UID), "-g", String(MAIL_GID), "127.0.0.1", "0", ...chain],
    { POPPIN_USERDB: setup.userdb, POPPIN_TIMEOUT: "30", POPPIN_STOP_SECONDS: "0" });
  servers.push(s);
  const pid = s.proc.pid;
  // Warm up (the first login loads libcrypt and compiles the session's code).
  expect((await talk(s.port, "USER joe\r\nPASS secret\r\nSTAT\r\nQUIT\r\n")).toString()).toContain("+OK 1500 ");
  const before = rssKb(pid);
  const capa = hostileClients(s.port, 10, "", "CAPA\r\n", 4);
  const uidl = hostileClients(s.port, 2, "USER joe\r\nPASS secret\r\n", "UIDL\r\n", 4);
  let peak = before;
  let politeAnswers = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssKb(pid))), 100);
  await Bun.sleep(1000);
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    const reply = await talk(s.port, "CAPA\r\nUSER nobody-here\r\nPASS x\r\nQUIT\r\n", 5000).catch(() => Buffer.alloc(0));
    if (reply.toString().includes("-ERR [AUTH]") && performance.now() - started < 5000) politeAnswers++;
  }
  await Promise.all([capa.exited, uidl.exited]);
  clearInterval(sampler);
  const growthMb = (peak - before) / 1024;
  console.log(`RSS before ${before} kB, peak ${peak} kB, growth ${growthMb.toFixed(1)} MB with 10 CAPA and 2 UIDL floods`);
  // Unbounded, this grew by hundreds of megabytes (CAPA) and by gigabytes (UIDL on a big mailbox).
  expect(growthMb).toBeLessThan(120);
  expect(politeAnswers).toBe(3);
}, 30_000);

test("a client that pipelines a lot and reads as it goes gets every answer, in order", async () => {
  const s = await startServer([POPPIN, "serve", "--inline", "-R", "-H", "-1", "-u", String(MAIL_UID), "-g", String(MAIL_GID), "127.0.0.1", "0", ...chain],
    { POPPIN_USERDB: setup.userdb, POPPIN_STOP_SECONDS: "0" });
  servers.push(s);
  const commands = "CAPA\r\n".repeat(3000) + "USER joe\r\nPASS secret\r\n" + "UIDL\r\nNOOP\r\n".repeat(200) + "QUIT\r\n";
  const reply = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = net.connect({ host: "127.0.0.1", port: s.port }, () => sock.write(commands));
    const timer = setTimeout(() => reject(new Error("no end of session")), 20_000);
    sock.on("data", (c: Buffer) => chunks.push(c));
    sock.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
  const text = reply.toString("latin1");
  expect(text.split("\r\nUSER\r\n").length - 1).toBe(3000); // every CAPA list (each has a USER line)
  expect(text.split("\r\n1500 ").length - 1).toBe(200); // every UIDL listing, complete
  expect(text.endsWith("\r\n.\r\n+OK \r\n+OK \r\n")).toBe(true); // the last UIDL, the NOOP and the QUIT
}, 30_000);

test("over TLS (--tls) too: a UIDL flood that never reads holds bounded memory", async () => {
  const cert = makeCertificate();
  const s = await startServer([POPPIN, "serve", "--inline", "--tls", "-R", "-H", "-1", "-u", String(MAIL_UID), "-g", String(MAIL_GID), "127.0.0.1", "0", ...chain],
    { POPPIN_USERDB: setup.userdb, CERTFILE: cert.cert, KEYFILE: cert.key, POPPIN_STOP_SECONDS: "0" });
  servers.push(s);
  const pid = s.proc.pid;
  const polite = () => new Promise<string>((resolve) => {
    let got = "";
    const sock = tls.connect({ host: "127.0.0.1", port: s.port, rejectUnauthorized: false }, () => sock.write("USER joe\r\nPASS secret\r\nSTAT\r\nQUIT\r\n"));
    sock.on("data", (c: Buffer) => (got += c.toString("latin1")));
    sock.on("error", () => resolve(got));
    sock.on("close", () => resolve(got));
    setTimeout(() => sock.destroy(), 5000);
  });
  expect(await polite()).toContain("+OK 1500 ");
  const before = rssKb(pid);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssKb(pid))), 100);
  const flood = hostileClients(s.port, 1, "USER joe\r\nPASS secret\r\n", "UIDL\r\n", 4, true);
  await Bun.sleep(1500);
  expect(await polite()).toMatch(/\+OK \r\n\+OK \r\n-ERR \[IN-USE\] /); // served at once: the flood holds the mailbox's session lock
  await flood.exited;
  clearInterval(sampler);
  const growthMb = (peak - before) / 1024;
  console.log(`TLS: RSS before ${before} kB, peak ${peak} kB, growth ${growthMb.toFixed(1)} MB with a UIDL flood`);
  expect(growthMb).toBeLessThan(120); // unbounded, about 2 GB in 5 s
}, 30_000);

test("a proxy node (popup NAME proxy ROUTES.cdb under --inline): CAPA floods that never read hold bounded memory", async () => {
  const routes = join(setup.root, "routes");
  const compiled = run([POPPIN, "routes", "compile", `${routes}.cdb`, `${routes}.tmp`], { stdin: "*:127.0.0.1:9\n" });
  expect(compiled.code).toBe(0);
  const s = await startServer([POPPIN, "serve", "--inline", "-R", "-H", "-1", "-u", String(MAIL_UID), "-g", String(MAIL_GID), "127.0.0.1", "0",
    POPPIN, "popup", "proxy.example", POPPIN, "proxy", `${routes}.cdb`], { POPPIN_TIMEOUT: "30", POPPIN_STOP_SECONDS: "0" });
  servers.push(s);
  const pid = s.proc.pid;
  expect((await talk(s.port, "CAPA\r\nQUIT\r\n")).toString()).toContain("\r\nUSER\r\n");
  const before = rssKb(pid);
  const capa = hostileClients(s.port, 10, "", "CAPA\r\n", 4);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssKb(pid))), 100);
  await Bun.sleep(1000);
  const polite = (await talk(s.port, "CAPA\r\nQUIT\r\n", 5000).catch(() => Buffer.alloc(0))).toString();
  await capa.exited;
  clearInterval(sampler);
  const growthMb = (peak - before) / 1024;
  console.log(`proxy node: RSS before ${before} kB, peak ${peak} kB, growth ${growthMb.toFixed(1)} MB with 10 CAPA floods`);
  expect(growthMb).toBeLessThan(120);
  expect(polite).toContain("\r\nUSER\r\n");
}, 30_000);
