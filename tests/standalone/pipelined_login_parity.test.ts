/**
 * Hostile and unusual clients that send everything before the greeting (the connection made and
 * the input written while serve is stopped, so it waits in the kernel when serve sees the
 * connection): serve --inline, which holds its greeting back for a whole line waiting there,
 * answers byte for byte as the classic chain (serve without --inline) does, timestamps aside:
 * a wrong password, a mailbox in use ([IN-USE]), STLS first without a certificate, a TLS
 * ClientHello with an LF in it on the plain port, a login followed by a half-close, and a
 * PROXY v2 header before the login (--proxy --proxy-from 127.0.0.1).
 */
import { afterAll, expect, test } from "bun:test";
import net from "node:net";
import { POPPIN } from "../helpers.ts";
import { MAIL_GID, MAIL_UID, startServer, tcpSockets, virtualSetup, type Running } from "./harness.ts";

const setup = virtualSetup(["Subject: one\n\nhello\n"]);
const CHAIN = [POPPIN, "popup", "mail.example", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"];
const servers: Running[] = [];

afterAll(async () => {
  await Promise.all(servers.filter((s) => s.proc.exitCode === null).map((s) => s.stop()));
});

async function start(inline: boolean, proxy = false): Promise<Running> {
  const flags = [...(inline ? ["--inline"] : []), ...(proxy ? ["--proxy", "--proxy-from", "127.0.0.1"] : [])];
  const s = await startServer([POPPIN, "serve", ...flags, "-1", "-u", String(MAIL_UID), "-g", String(MAIL_GID), "127.0.0.1", "0", ...CHAIN],
    { POPPIN_USERDB: setup.userdb, POPPIN_FAILURE_DELAY: "0" });
  servers.push(s);
  return s;
}

/** All the server wrote (greeting timestamp blanked) to `input` sent before the greeting; `halfClose`: shutdown(SHUT_WR) after it. */
async function beforeGreeting(server: Running, input: Uint8Array, halfClose = false): Promise<string> {
  const chunks: Buffer[] = [];
  process.kill(server.proc.pid, "SIGSTOP");
  const sock = net.connect(server.port, "127.0.0.1");
  sock.on("error", () => {});
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once("connect", resolve);
      sock.once("error", reject);
    });
    sock.on("data", (d: Buffer) => chunks.push(d));
    await new Promise<void>((resolve) => sock.write(input, () => resolve()));
    if (halfClose) sock.end();
    await Bun.sleep(100);
  } finally {
    process.kill(server.proc.pid, "SIGCONT");
  }
  await Promise.race([new Promise((resolve) => sock.once("close", resolve)), Bun.sleep(8000)]);
  sock.destroy();
  return Buffer.concat(chunks).toString("latin1").replace(/^\+OK <[^>]*>/, "+OK <>");
}

const text = (s: string) => new Uint8Array(Buffer.from(s, "latin1"));

/** A TLS 1.2 ClientHello record whose random holds an LF (so the kernel has a "line"). */
function clientHello(): Uint8Array {
  const random = Buffer.alloc(32, 0x41);
  random[5] = 0x0a;
  const body = Buffer.concat([Buffer.from([3, 3]), random, Buffer.from([0, 0, 2, 0x13, 0x01, 1, 0, 0, 0])]);
  const handshake = Buffer.concat([Buffer.from([1, 0, body.length >> 8, body.length & 0xff]), body]);
  return new Uint8Array(Buffer.concat([Buffer.from([0x16, 3, 1, handshake.length >> 8, handshake.length & 0xff]), handshake]));
}

/** A PROXY v2 header: TCP over IPv4 from 192.0.2.7:5555 to 127.0.0.1:110. */
function proxyV2(): Buffer {
  const header = Buffer.alloc(28);
  Buffer.from("0d0a0d0a000d0a515549540a", "hex").copy(header);
  header[12] = 0x21;
  header[13] = 0x11;
  header.writeUInt16BE(12, 14);
  Buffer.from([192, 0, 2, 7, 127, 0, 0, 1]).copy(header, 16);
  header.writeUInt16BE(5555, 24);
  header.writeUInt16BE(110, 26);
  return header;
}

const LOGIN = "USER joe\r\nPASS secret\r\n";

test("pipelined before the greeting: --inline answers as the classic chain, byte for byte", async () => {
  const [classic, inline] = await Promise.all([start(false), start(true)]);
  const cases: [string, Uint8Array, boolean, RegExp][] = [
    ["wrong password", text("USER joe\r\nPASS wrong\r\nQUIT\r\n"), false, /^\+OK (<>)?\r\n\+OK \r\n-ERR \[AUTH\][^\r\n]*\r\n\+OK[^\r\n]*\r\n$/],
    ["STLS first", text(`STLS\r\n${LOGIN}STAT\r\nQUIT\r\n`), false, /^\+OK (<>)?\r\n-ERR [^\r\n]*\r\n\+OK \r\n\+OK \r\n\+OK 1 \d+\r\n\+OK[^\r\n]*\r\n$/],
    ["TLS ClientHello", clientHello(), false, /^\+OK (<>)?\r\n$/],
    ["half-close after the login", text(`${LOGIN}STAT\r\n`), true, /^\+OK (<>)?\r\n\+OK \r\n\+OK \r\n\+OK 1 \d+\r\n$/],
  ];
  for (const [name, input, halfClose, expected] of cases) {
    const a = await beforeGreeting(classic, input, halfClose);
    const b = await beforeGreeting(inline, input, halfClose);
    expect({ name, bytes: a }).toEqual({ name, bytes: expect.stringMatching(expected) });
    expect({ name, bytes: b }).toEqual({ name, bytes: a });
  }
}, 30_000);

test("pipelined login into a mailbox in use: [IN-USE] after the greeting and USER's +OK, as the classic chain", async () => {
  const [classic, inline] = await Promise.all([start(false), start(true)]);
  const answers: string[] = [];
  for (const server of [classic, inline]) {
    const holder = net.connect(server.port, "127.0.0.1");
    const held = new Promise<void>((resolve) => {
      let seen = "";
      holder.on("data", (d: Buffer) => {
        seen += d.toString("latin1");
        if (/^\+OK[^\r\n]*\r\n\+OK[^\r\n]*\r\n\+OK[^\r\n]*\r\n/.test(seen)) resolve();
      });
    });
    holder.write(LOGIN);
    await held;
    answers.push(await beforeGreeting(server, text(`${LOGIN}STAT\r\nQUIT\r\n`)));
    holder.destroy();
  }
  expect(answers[0]).toMatch(/^\+OK (<>)?\r\n\+OK \r\n-ERR \[IN-USE\][^\r\n]*\r\n$/);
  expect(answers[1]).toBe(answers[0]!);
}, 20_000);

test("a PROXY v2 header and a login sent before the greeting: --inline --proxy answers as the classic chain", async () => {
  const [classic, inline] = await Promise.all([start(false, true), start(true, true)]);
  const input = new Uint8Array(Buffer.concat([proxyV2(), Buffer.from(`${LOGIN}STAT\r\nQUIT\r\n`)]));
  const a = await beforeGreeting(classic, input);
  expect(a).toMatch(/^\+OK (<>)?\r\n\+OK \r\n\+OK \r\n\+OK 1 \d+\r\n\+OK[^\r\n]*\r\n$/);
  expect(await beforeGreeting(inline, input)).toBe(a);
}, 20_000);

test("clients that send a login and RETR before the greeting and close at once leave no descriptor in serve --inline", async () => {
  const server = await start(true);
  // TCP sockets only: the password-check helpers' socket pairs grow with concurrent logins.
  const fds = () => tcpSockets(server.proc.pid);
  const burst = async () => {
    process.kill(server.proc.pid, "SIGSTOP");
    try {
      for (let i = 0; i < 15; i++) {
        const sock = net.connect(server.port, "127.0.0.1");
        sock.on("error", () => {});
        await new Promise<void>((resolve) => sock.once("connect", () => resolve()));
        await new Promise<void>((resolve) => sock.write(`${LOGIN}RETR 1\r\nQUIT\r\n`, () => resolve()));
        if (i % 2 === 0) sock.destroy();
        else sock.resetAndDestroy();
      }
      await Bun.sleep(100);
    } finally {
      process.kill(server.proc.pid, "SIGCONT");
    }
  };
  // The first burst lets the password-check helpers grow to what concurrent logins need.
  await burst();
  await Bun.sleep(1000);
  const before = fds();
  await burst();
  // serve takes the burst's connections in as it runs again: each check must hold for half a second.
  const deadline = Date.now() + 10_000;
  for (let held = 0; held < 10 && Date.now() < deadline; await Bun.sleep(50)) held = fds() > before ? 0 : held + 1;
  expect(fds()).toBeLessThanOrEqual(before);
  // The server still serves: a login pipelined before the greeting gets the whole session.
  expect(await beforeGreeting(server, text(`${LOGIN}STAT\r\nQUIT\r\n`))).toMatch(/^\+OK (<>)?\r\n\+OK \r\n\+OK \r\n\+OK 1 \d+\r\n\+OK[^\r\n]*\r\n$/);
}, 20_000);
