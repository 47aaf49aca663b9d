/**
 * Test harness for serve --inline: a virtual-user setup (user database, Maildir owned by
 * the mail uid), a server started with -1 (its port read from stdout), and a raw POP3
 * client that sends pipelined commands and returns every byte the server answered.
 */
import { chmodSync, chownSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { POPPIN, run, startPortServer, tempDir, type PortServer } from "../helpers.ts";

/** nobody: the mail uid of the virtual-user tests. */
export const MAIL_UID = 65534;
export const MAIL_GID = 65534;

export interface VirtualSetup {
  root: string;
  userdb: string;
  home: string;
  maildir: string;
}

function chownTree(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  if (statSync(path).isDirectory()) for (const name of readdirSync(path)) chownTree(join(path, name), uid, gid);
}

/** A user `joe` (password `secret`) with uid MAIL_UID and `messages` in new/. */
export function virtualSetup(messages: (string | Uint8Array)[], opts: { uid?: number; gid?: number } = {}): VirtualSetup {
  const uid = opts.uid ?? MAIL_UID;
  const gid = opts.gid ?? MAIL_GID;
  const root = tempDir("inline");
  chmodSync(root, 0o755);
  const home = join(root, "joe");
  const maildir = join(home, "Maildir");
  for (const sub of ["tmp", "new", "cur"]) mkdirSync(join(maildir, sub), { recursive: true });
  messages.forEach((m, i) => writeFileSync(join(maildir, "new", `${1700000000 + i}.M${i}P1.test.example`), m));
  const userdb = join(root, "users");
  const added = run([POPPIN, "users", "-f", userdb, "add", "joe", String(uid), String(gid), home], { stdin: "secret\n" });
  if (added.code !== 0) throw new Error(`users add: ${added.stderr}`);
  chownTree(home, uid, gid);
  chownSync(userdb, uid, gid);
  return { root, userdb, home, maildir };
}

export type Running = PortServer;

/** Starts `argv` (a serve command line with -1 and port 0) and waits for the port. */
export function startServer(argv: string[], env: Record<string, string>): Promise<Running> {
  return startPortServer(argv, { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env } });
}

/** Sends `input` (pipelined) and returns all the server wrote until it closed (bounded by `timeoutMs`). */
export async function talk(port: number, input: string | Uint8Array, timeoutMs = 10_000): Promise<Buffer> {
  return (await talkToEnd(port, input, timeoutMs)).bytes;
}

/**
 * As talk, and how the connection ended: `error` is the socket error seen (ECONNRESET when the
 * server closed with input unread, a reset that may throw away its last answers), undefined
 * for a clean end.
 */
export function talkToEnd(port: number, input: string | Uint8Array, timeoutMs = 10_000): Promise<{ bytes: Buffer; error?: string }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let error: string | undefined;
    const sock = net.connect({ host: "127.0.0.1", port }, () => sock.write(input));
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no end of session within ${timeoutMs} ms; got: ${Buffer.concat(chunks).toString("latin1").slice(0, 500)}`));
    }, timeoutMs);
    sock.on("data", (c: Buffer) => chunks.push(c));
    sock.on("error", (e: NodeJS.ErrnoException) => {
      error = e.code ?? e.message;
    });
    sock.on("close", () => {
      clearTimeout(timer);
      resolve({ bytes: Buffer.concat(chunks), error });
    });
  });
}

/** Opens a connection and waits for the greeting; the socket stays open. */
export function connectIdle(port: number, timeoutMs = 10_000): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    const timer = setTimeout(() => reject(new Error("no greeting")), timeoutMs);
    sock.once("data", () => {
      clearTimeout(timer);
      resolve(sock);
    });
    sock.on("error", (e) => reject(e));
  });
}

/** The greeting's timestamp differs per session and program: blank it for comparisons. */
export function withoutTimestamp(bytes: Buffer): string {
  return bytes.toString("latin1").replace(/^\+OK <[^>]*>/, "+OK <>");
}

/** The descriptors of `pid` that are TCP sockets (listener and connections); its helpers' socket pairs are not counted. */
export function tcpSockets(pid: number): number {
  const tcp = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(table, "latin1").split("\n").slice(1)) {
      const inode = line.trim().split(/\s+/)[9];
      if (inode !== undefined && inode !== "0") tcp.add(inode);
    }
  }
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m && tcp.has(m[1])) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}
