/**
 * TLS test fixtures: a throw-away certificate (made here with openssl, never committed),
 * a virtual user with a Maildir, and the classic chain behind our serve, plain (STLS in
 * popup) or with --tls (implicit TLS).
 */
import { chmodSync, chownSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import net from "node:net";
import tls from "node:tls";
import { expect } from "bun:test";
import { applet, requireTool, run, startPortServer, tempDir } from "../helpers.ts";
import { Conversation } from "../pop3/conversation.ts";

export interface Certificate { dir: string; cert: string; key: string; both: string }

/** A self-signed EC certificate for localhost and 127.0.0.1, in a fresh directory. */
export function makeCertificate(cn = "localhost"): Certificate {
  requireTool("openssl");
  const dir = tempDir("cert");
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  const r = run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", key, "-out", cert, "-days", "2", "-subj", `/CN=${cn}`, "-addext", "subjectAltName=DNS:localhost,DNS:127.0.0.1,IP:127.0.0.1"]);
  if (r.code !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
  const both = join(dir, "both.pem");
  writeFileSync(both, Buffer.concat([readFileSync(cert), readFileSync(key)]));
  return { dir, cert, key, both };
}

export const USER = "demo";
export const PASSWORD = "tls s3cret";

export interface Box { root: string; home: string; maildir: string; userdb: string }

/** A virtual user (uid 12345 when root) with an empty Maildir. */
export function makeBox(): Box {
  const root = tempDir("tlsbox");
  chmodSync(root, 0o755);
  const home = join(root, "home");
  mkdirSync(home);
  const maildir = join(home, "Maildir");
  expect(run([applet("maildirmake"), maildir]).code).toBe(0);
  const uid = process.getuid!() === 0 ? 12345 : process.getuid!();
  const gid = process.getuid!() === 0 ? 12345 : process.getgid!();
  const userdb = join(root, "users");
  const added = run([applet("users"), "-f", userdb, "add", USER, String(uid), String(gid), home], { stdin: `${PASSWORD}\n` });
  expect(added.code).toBe(0);
  chownTree(home, uid, gid);
  return { root, home, maildir, userdb: `${userdb}.cdb` };
}

function chownTree(dir: string, uid: number, gid: number): void {
  if (process.getuid!() !== 0) return;
  chownSync(dir, uid, gid);
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) chownTree(p, uid, gid);
    else chownSync(p, uid, gid);
  }
}

/** Delivers messages into the box (then owned by the user). */
export function deliver(box: Box, messages: Uint8Array[]): void {
  for (const m of messages) expect(run([applet("deliver"), box.maildir], { stdin: m }).code).toBe(0);
  const uid = process.getuid!() === 0 ? 12345 : process.getuid!();
  const gid = process.getuid!() === 0 ? 12345 : process.getgid!();
  chownTree(box.home, uid, gid);
}

export interface Service { port: number; log(): string; pid: number; stop(): Promise<void> }

/** serve -1 -v -HR [--tls] 127.0.0.1 0 qmail-popup [popupArgs] HOST checkpassword qmail-pop3d Maildir */
export async function startService(box: Box, opts: { tls?: boolean; env?: Record<string, string>; popupArgs?: string[]; program?: string[]; serveArgs?: string[] } = {}): Promise<Service> {
  const program = opts.program ?? [applet("qmail-popup"), ...(opts.popupArgs ?? []), "pop.example.org", applet("checkpassword"), applet("qmail-pop3d"), "Maildir"];
  const args = ["-1", "-v", "-HR", ...(opts.serveArgs ?? []), ...(opts.tls ? ["--tls"] : []), "127.0.0.1", "0", ...program];
  const s = await startPortServer([applet("tcpserver"), ...args], {
    cwd: box.home,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", POPPIN_USERDB: box.userdb, POPPIN_AUTH_FAILURE_DELAY: "0.1", ...opts.env },
  });
  return { port: s.port, pid: s.proc.pid, log: s.log, stop: async () => void (await s.stop()) };
}

/** What a client saw around STLS: in clear, whether TLS started, inside TLS, and how it ended ("closed", "error", "tls error", "timeout"). */
export interface InjectedStls { plain: string; started: boolean; secure: string; how: string }

/**
 * Sends STLS and `injected` in one write once the greeting is in, waits for STLS's answer,
 * then does the handshake and sends `inside` over TLS; gives up after `timeoutMs`.
 */
export function stlsWithInjection(port: number, injected: string, inside: string, timeoutMs = 15_000): Promise<InjectedStls> {
  return new Promise((resolve) => {
    let plain = "";
    let secure = "";
    let started = false;
    const sock = net.connect({ host: "127.0.0.1", port });
    const end = (how: string) => {
      clearTimeout(timer);
      resolve({ plain, started, secure, how });
    };
    const timer = setTimeout(() => { end("timeout"); sock.destroy(); }, timeoutMs);
    const onPlain = (b: Buffer) => {
      plain += b.toString("latin1");
      if (plain.split("\r\n").length === 2) sock.write(`STLS\r\n${injected}`);
      if (plain.split("\r\n").length === 3 && !started) {
        started = true;
        sock.off("data", onPlain);
        const t = tls.connect({ socket: sock, rejectUnauthorized: false }, () => t.write(inside));
        t.on("data", (c: Buffer) => (secure += c.toString("latin1")));
        t.on("error", () => end("tls error"));
        t.on("close", () => end("closed"));
      }
    };
    sock.on("data", onPlain);
    sock.on("error", () => { if (!started) end("error"); });
    sock.on("close", () => { if (!started) end("closed"); });
  });
}

/** A conversation over an established TLS socket. */
export function tlsConversation(sock: tls.TLSSocket): Conversation {
  const talk = new Conversation((d) => sock.write(d), () => sock.end());
  sock.on("data", (c: Buffer) => talk.received(c));
  sock.on("close", () => talk.ended());
  sock.on("error", () => talk.ended());
  return talk;
}

export { execAsync as exec } from "../helpers.ts";

/** Messages that exercise what clients get wrong: dots, 8-bit, CRLF, no final newline, size. */
export function corpus(): Buffer[] {
  const big = Array.from({ length: 3000 }, (_, i) => `line ${i} ${"y".repeat(60)}`).join("\n");
  return [
    "From: a@example.org\nTo: demo@example.org\nSubject: plain\n\nHello over TLS.\n",
    "Subject: dots\n\n.\n..\n.leading dot\n...\nend\n",
    "Subject: 8bit\n\ncaf\xe9 \xff\xfe bytes \x80\x81\n",
    "Subject: crlf\r\n\r\nalready CRLF\r\nsecond line\r\n",
    `Subject: big\n\n${big}\n`,
  ].map((s) => Buffer.from(s, "latin1"));
}

/** What a message looks like after any client stored it: LF line ends, a final newline. */
export function canonical(message: Uint8Array): string {
  let text = Buffer.from(message).toString("latin1").replace(/\r\n/g, "\n");
  if (!text.endsWith("\n")) text += "\n";
  return text;
}

/** The messages of a RETR transcript ("+OK n octets" ... "."), dot-unstuffed, in order. */
export function retrieved(transcript: string): string[] {
  const out: string[] = [];
  const re = /\+OK \d+ octets\r\n([\s\S]*?)\r\n\.\r\n/g;
  for (let m = re.exec(transcript); m; m = re.exec(transcript)) {
    out.push(canonical(Buffer.from(m[1]!.split("\r\n").map((l) => (l.startsWith(".") ? l.slice(1) : l)).join("\r\n") + "\r\n", "latin1")));
  }
  return out;
}

/** Removes every message from the box (between tests). */
export function emptyBox(box: Box): void {
  for (const sub of ["new", "cur"]) for (const f of readdirSync(join(box.maildir, sub))) rmSync(join(box.maildir, sub, f));
}

/** Messages left in the box. */
export function boxCount(box: Box): number {
  return ["new", "cur"].reduce((n, sub) => n + readdirSync(join(box.maildir, sub)).length, 0);
}
