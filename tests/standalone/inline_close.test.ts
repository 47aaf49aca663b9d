/**
 * serve --inline closes every connection whose session ended, whatever the client still
 * sends: a session ended by the server (too many bad commands, QUIT, [IN-USE]) while the
 * client floods input leaves no descriptor behind in the shared process, nor does a client
 * that then resets. Without that, a client repeating it would use up serve's descriptors
 * and with them every later client's connection.
 */
import { afterAll, expect, test } from "bun:test";
import net from "node:net";
import tls from "node:tls";
import { join } from "node:path";
import { POPPIN, run } from "../helpers.ts";
import { makeCertificate } from "../tls/harness.ts";
import { MAIL_GID, MAIL_UID, startServer, talk, tcpSockets, virtualSetup, type Running } from "./harness.ts";

const setup = virtualSetup(["Subject: one\n\nfirst\n"]);
const servers: Running[] = [];
afterAll(async () => {
  for (const s of servers) if (s.proc.exitCode === null) await s.stop(2_000);
});

/**
 * Sends `first`, then keeps sending `flood` (never reading) until the connection is gone or `ms`
 * passed; then resets it. `tls`: after STLS, or from the first byte (--tls). `halfOpen`: the
 * server's FIN does not stop it.
 */
function flooder(port: number, first: string, flood: Buffer, ms: number, tlsMode?: "stls" | "implicit", halfOpen = false): Promise<void> {
  return new Promise((resolve) => {
    const raw = net.connect({ host: "127.0.0.1", port, allowHalfOpen: halfOpen }, () => {
      if (tlsMode === undefined) return void send(raw);
      const secure = () => {
        const t = tls.connect({ socket: raw, rejectUnauthorized: false }, () => void send(t));
        t.on("data", () => {});
        t.on("error", () => {});
      };
      if (tlsMode === "implicit") return secure();
      raw.once("data", () => {
        raw.write("STLS\r\n");
        raw.once("data", secure);
      });
    });
    async function send(sock: net.Socket): Promise<void> {
      sock.write(first);
      const until = Date.now() + ms;
      while (!sock.destroyed && Date.now() < until) {
        if (!sock.write(flood)) await Promise.race([new Promise((r) => sock.once("drain", r)), Bun.sleep(200)]);
        if (sock.writableLength > 4 << 20) await Bun.sleep(50);
      }
      raw.resetAndDestroy();
    }
    raw.on("data", () => {});
    raw.on("error", () => {});
    raw.on("close", () => resolve());
  });
}

/** Waits (up to 3 s) until `pid` holds no more TCP sockets than `listening`; returns how many it holds. */
async function settled(pid: number, listening: number): Promise<number> {
  let held = tcpSockets(pid);
  for (let i = 0; i < 30 && held > listening; i++) {
    await Bun.sleep(100);
    held = tcpSockets(pid);
  }
  return held;
}

const EMPTY_LINES = Buffer.from("\r\n".repeat(64 * 1024)); // 21 empty lines end a session (too many bad commands)
const NOOPS = Buffer.from("NOOP\r\n".repeat(16 * 1024));
const LOGIN_QUIT = "USER joe\r\nPASS secret\r\nQUIT\r\n";
const chain = [POPPIN, "popup", "mail.example", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"];

test("sessions the server ends while the client floods input leave no descriptor in serve --inline; it still serves", async () => {
  const s = await startServer(
    [POPPIN, "serve", "--inline", "-1", "-c", "5", "-u", String(MAIL_UID), "-g", String(MAIL_GID), "127.0.0.1", "0", ...chain],
    { POPPIN_USERDB: setup.userdb, POPPIN_AUTH_FAILURE_DELAY: "0" },
  );
  servers.push(s);
  // A first session opens what the process keeps for all (the user database, the log).
  expect((await talk(s.port, "USER joe\r\nPASS secret\r\nSTAT\r\nQUIT\r\n")).toString("latin1")).toMatch(/\+OK 1 \d+\r\n\+OK[^\r]*\r\n$/);
  await Bun.sleep(300);
  const listening = tcpSockets(s.proc.pid); // the listener (its descriptor and a copy)
  const rounds = [
    ...Array.from({ length: 6 }, () => () => flooder(s.port, "", EMPTY_LINES, 1500)), // before login
    ...Array.from({ length: 6 }, () => () => flooder(s.port, LOGIN_QUIT, NOOPS, 1500)), // after QUIT (or [IN-USE])
  ];
  for (let i = 0; i < rounds.length; i += 4) await Promise.all(rounds.slice(i, i + 4).map((start) => start()));
  expect(await settled(s.proc.pid, listening)).toBe(listening);
  expect((await talk(s.port, "USER joe\r\nPASS secret\r\nSTAT\r\nQUIT\r\n")).toString("latin1")).toMatch(/\+OK 1 \d+\r\n\+OK[^\r]*\r\n$/);
}, 30_000);

test("the same for a proxy node (popup NAME proxy ROUTES.cdb under --inline)", async () => {
  const routes = join(setup.root, "routes");
  expect(run([POPPIN, "routes", "compile", `${routes}.cdb`, `${routes}.tmp`], { stdin: "*:127.0.0.1:9\n" }).code).toBe(0);
  const s = await startServer([POPPIN, "serve", "--inline", "-1", "-c", "5", "-u", String(MAIL_UID), "-g", String(MAIL_GID), "127.0.0.1", "0", POPPIN, "popup", "proxy.example", POPPIN, "proxy", `${routes}.cdb`], {});
  servers.push(s);
  expect((await talk(s.port, "CAPA\r\nQUIT\r\n")).toString()).toContain("\r\nUSER\r\n");
  await Bun.sleep(300);
  const listening = tcpSockets(s.proc.pid);
  const capas = Buffer.from("CAPA\r\n".repeat(8 * 1024));
  await Promise.all([...Array.from({ length: 4 }, () => flooder(s.port, "", EMPTY_LINES, 1500)), ...Array.from({ length: 4 }, () => flooder(s.port, "QUIT\r\n", capas, 1500))]);
  expect(await settled(s.proc.pid, listening)).toBe(listening);
  expect((await talk(s.port, "CAPA\r\nQUIT\r\n")).toString()).toContain("\r\nUSER\r\n");
}, 30_000);

test("the same over TLS: after STLS and under --tls", async () => {
  const cert = makeCertificate();
  for (const how of ["stls", "implicit"] as const) {
    const s = await startServer(
      [POPPIN, "serve", "--inline", ...(how === "implicit" ? ["--tls"] : []), "-1", "-c", "5", "-u", String(MAIL_UID), "-g", String(MAIL_GID), "127.0.0.1", "0", ...chain],
      { POPPIN_USERDB: setup.userdb, POPPIN_AUTH_FAILURE_DELAY: "0", CERTFILE: cert.cert, KEYFILE: cert.key },
    );
    servers.push(s);
    await Bun.sleep(300);
    const listening = tcpSockets(s.proc.pid);
    await Promise.all([flooder(s.port, "", EMPTY_LINES, 1500, how), flooder(s.port, "", EMPTY_LINES, 1500, how), flooder(s.port, LOGIN_QUIT, NOOPS, 1500, how), flooder(s.port, LOGIN_QUIT, NOOPS, 1500, how)]);
    expect(await settled(s.proc.pid, listening), how).toBe(listening);
    await s.stop(2_000);
  }
}, 30_000);

test("a client that keeps sending after its session ended is cut off, not read on for the timeout", async () => {
  const s = await startServer(
    [POPPIN, "serve", "--inline", "-1", "-c", "5", "-u", String(MAIL_UID), "-g", String(MAIL_GID), "127.0.0.1", "0", ...chain],
    { POPPIN_USERDB: setup.userdb, POPPIN_AUTH_FAILURE_DELAY: "0" },
  );
  servers.push(s);
  const started = Date.now();
  // 21 empty lines end the session; the flood after them would go on for 8 s if serve read it.
  await Promise.all([flooder(s.port, "\r\n".repeat(21), EMPTY_LINES, 8000, undefined, true), flooder(s.port, LOGIN_QUIT, NOOPS, 8000, undefined, true)]);
  expect(Date.now() - started).toBeLessThan(4000);
}, 30_000);

test("a session that ended with nothing left unread (QUIT) is closed at once: serve holds no descriptor while the client keeps its side open, and the client gets every answer and a FIN, no reset", async () => {
  const s = await startServer(
    [POPPIN, "serve", "--inline", "-1", "-c", "5", "-u", String(MAIL_UID), "-g", String(MAIL_GID), "127.0.0.1", "0", ...chain],
    { POPPIN_USERDB: setup.userdb, POPPIN_AUTH_FAILURE_DELAY: "0" },
  );
  servers.push(s);
  expect((await talk(s.port, "USER joe\r\nPASS secret\r\nQUIT\r\n")).toString("latin1")).toMatch(/\+OK[^\r]*\r\n$/);
  await Bun.sleep(300);
  const listening = tcpSockets(s.proc.pid);
  // One command at a time (the client waits for each answer), as clients do; it never closes its side.
  const sock = net.connect({ host: "127.0.0.1", port: s.port, allowHalfOpen: true });
  let got = "";
  let reset = false;
  let ended = false;
  sock.on("error", () => { reset = true; });
  sock.on("end", () => { ended = true; });
  const answers = (n: number) => new Promise<void>((resolve) => {
    const check = () => {
      if ((got.match(/\r\n/g) ?? []).length >= n) {
        sock.off("data", onData);
        resolve();
      }
    };
    const onData = (d: Buffer) => { got += d.toString("latin1"); check(); };
    sock.on("data", onData);
    check();
  });
  await answers(1);
  for (const [command, lines] of [["USER joe", 2], ["PASS secret", 3], ["STAT", 4], ["QUIT", 5]] as const) {
    sock.write(`${command}\r\n`);
    await answers(lines);
  }
  for (let i = 0; i < 30 && !ended; i++) await Bun.sleep(100);
  const held = await settled(s.proc.pid, listening);
  const open = !sock.destroyed;
  sock.destroy();
  expect(got).toMatch(/^\+OK[^\r]*\r\n\+OK[^\r]*\r\n\+OK[^\r]*\r\n\+OK 1 \d+\r\n\+OK[^\r]*\r\n$/);
  expect({ ended, reset, open }).toEqual({ ended: true, reset: false, open: true });
  expect(held).toBe(listening);
}, 30_000);
