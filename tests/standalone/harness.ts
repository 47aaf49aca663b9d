/**
 * Test harness for serve --inline: a virtual-user setup (user database, Maildir owned by
 * the mail uid), a server started with -1 (its port read from stdout), and a raw POP3
 * client that sends pipelined commands and returns every byte the server answered.
 */
import { chmodSync, chownSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { POPPIN, run, tempDir } from "../helpers.ts";

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

export interface Running {
  port: number;
  proc: ReturnType<typeof Bun.spawn>;
  /** Everything written to stderr so far. */
  log(): string;
  stop(): Promise<number>;
}

/** Starts `argv` (a serve command line with -1 and port 0) and waits for the port. */
export async function startServer(argv: string[], env: Record<string, string>): Promise<Running> {
  const proc = Bun.spawn(argv, { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  let log = "";
  void (async () => {
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) log += Buffer.from(chunk).toString("latin1");
  })();
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let text = "";
  const deadline = Date.now() + 10_000;
  while (!text.includes("\n")) {
    if (Date.now() > deadline) throw new Error(`no port printed; log: ${log}`);
    const { value, done } = await Promise.race([reader.read(), Bun.sleep(10_000).then(() => ({ value: undefined, done: true }))]);
    if (done) throw new Error(`server exited before printing its port; log: ${log}`);
    text += Buffer.from(value!).toString();
  }
  reader.releaseLock();
  return {
    port: Number(text.trim()),
    proc,
    log: () => log,
    async stop() {
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      const code = await proc.exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Sends `input` (pipelined) and returns all the server wrote until it closed (bounded by `timeoutMs`). */
export function talk(port: number, input: string | Uint8Array, timeoutMs = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = net.connect({ host: "127.0.0.1", port }, () => sock.write(input));
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no end of session within ${timeoutMs} ms; got: ${Buffer.concat(chunks).toString("latin1").slice(0, 500)}`));
    }, timeoutMs);
    sock.on("data", (c: Buffer) => chunks.push(c));
    sock.on("error", () => {});
    sock.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
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
