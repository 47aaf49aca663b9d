/** Building blocks for proxy tests: mailboxes, backends (--proxy), proxies, a raw POP3 client bound to an address. */
import { chmodSync, chownSync, mkdirSync, readdirSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { expect } from "bun:test";
import { applet, run, runAccountTool, startPortServer, tempDir, type PortServer } from "../helpers.ts";
import { asUser, localUser, sharedBase } from "../security/local_users.ts";

export const MAIL_UID = process.getuid!() === 0 ? 12345 : process.getuid!();

export interface Users {
  /** The virtual users' database; undefined for system users (checkpassword reads /etc/shadow). */
  userdb?: string;
  homes: Record<string, string>;
  /** The login of each user named in the test (system accounts get a unique name). */
  logins: Record<string, string>;
}

/** Users of a user database (POPPIN_USERDB). */
export interface VirtualUsers extends Users {
  userdb: string;
}

/** Virtual users with a Maildir each, and `messages` delivered to every one of them. */
export function makeUsers(users: Record<string, string>, messages: (user: string) => Uint8Array[]): VirtualUsers {
  const root = tempDir("proxyusers");
  chmodSync(root, 0o755);
  const homes: Record<string, string> = {};
  const userdb = join(root, "users");
  for (const [user, password] of Object.entries(users)) {
    const home = join(root, user);
    mkdirSync(home);
    if (run([applet("maildirmake"), join(home, "Maildir")]).code !== 0) throw new Error("maildirmake failed");
    const added = run([applet("users"), "-f", userdb, "add", user, String(MAIL_UID), String(MAIL_UID), home], { stdin: `${password}\n` });
    if (added.code !== 0) throw new Error(`users add: ${added.stderr}`);
    for (const m of messages(user)) {
      if (run([applet("deliver"), join(home, "Maildir")], { stdin: m }).code !== 0) throw new Error("deliver failed");
    }
    chownTree(home);
    homes[user] = home;
  }
  return { userdb: `${userdb}.cdb`, homes, logins: Object.fromEntries(Object.keys(users).map((u) => [u, u])) };
}

/**
 * System users (useradd, a yescrypt hash in /etc/shadow, a ~/Maildir of their own with
 * `messages` delivered as the user), named PREFIX + a random suffix; the caller removes them
 * with removeLocalUsers (tests/security/local_users.ts).
 */
export function makeSystemUsers(users: Record<string, string>, messages: (user: string) => Uint8Array[]): Users {
  const base = sharedBase("proxysys");
  const homes: Record<string, string> = {};
  const logins: Record<string, string> = {};
  for (const [user, password] of Object.entries(users)) {
    const account = localUser(`px${user.slice(0, 3)}`, base);
    runAccountTool(["chpasswd", "-c", "YESCRYPT"], "chpasswd", `${account.name}:${password}\n`);
    const maildir = join(account.home, "Maildir");
    const made = asUser(account, [applet("maildirmake"), maildir]);
    if (made.code !== 0) throw new Error(`maildirmake as ${account.name}: ${made.err}`);
    for (const m of messages(user)) {
      const delivered = asUser(account, [applet("deliver"), maildir], Buffer.from(m).toString("latin1"));
      if (delivered.code !== 0) throw new Error(`deliver as ${account.name}: ${delivered.err}`);
    }
    homes[user] = account.home;
    logins[user] = account.name;
  }
  return { homes, logins };
}

export function chownTree(dir: string): void {
  if (process.getuid!() !== 0) return;
  chownSync(dir, MAIL_UID, MAIL_UID);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) chownTree(path);
    else chownSync(path, MAIL_UID, MAIL_UID);
  }
}

const ENV = { PATH: process.env.PATH ?? "/usr/bin:/bin" };

/**
 * A backend: the classic chain behind `serve --proxy --proxy-from 127.0.0.0/8` (with
 * `inline`, served by `serve --inline`: as root, system users' sessions run in mail workers).
 */
export function startBackend(ip: string, port: number, users: Users, env: Record<string, string> = {}, serveArgs: string[] = [], inline = false): Promise<PortServer> {
  return startPortServer([
    applet("tcpserver"), ...(inline ? ["--inline"] : []), "-1", "-v", "-HR", ...serveArgs, "--proxy", "--proxy-from", "127.0.0.0/8", ip, String(port),
    applet("qmail-popup"), "backend.example.org", applet("checkpassword"), applet("qmail-pop3d"), "Maildir",
  ], { env: { ...ENV, ...(users.userdb !== undefined ? { POPPIN_USERDB: users.userdb } : {}), ...env } });
}

/** A proxy node: `serve [--inline] [SERVE-ARGS] IP PORT popup HOST proxy [PROXY-ARGS] ROUTES.cdb`. */
export function startProxy(ip: string, port: number, routes: string, opts: { inline?: boolean; serveArgs?: string[]; proxyArgs?: string[]; popupArgs?: string[]; env?: Record<string, string> } = {}): Promise<PortServer> {
  return startPortServer([
    applet("tcpserver"), ...(opts.inline ? ["--inline"] : []), "-1", "-v", "-HR", ...(opts.serveArgs ?? []), ip, String(port),
    applet("qmail-popup"), ...(opts.popupArgs ?? []), "proxy.example.org", applet("proxy"), ...(opts.proxyArgs ?? []), routes,
  ], { env: { ...ENV, ...opts.env } });
}

/** Compiles a route table from text; returns the cdb's path. */
export function routesCdb(text: string): string {
  const dir = tempDir("routes");
  const cdb = join(dir, "routes.cdb");
  const r = run([applet("routes"), "compile", cdb, join(dir, "routes.tmp")], { stdin: text });
  if (r.code !== 0) throw new Error(`routes compile: ${r.stderr}`);
  return cdb;
}

/**
 * Sends `script` at once from `from` and reads until the server closes (or `timeoutMs`);
 * `halfClose`: then closes its own side at once, as `nc -N` does, and still reads.
 */
export function talk(from: string, host: string, port: number, script: string, timeoutMs = 15_000, halfClose = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = net.connect({ host, port, localAddress: from, allowHalfOpen: halfClose });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no close within ${timeoutMs} ms; got ${Buffer.concat(chunks).toString("latin1")}`));
    }, timeoutMs);
    sock.on("connect", () => (halfClose ? sock.end(Buffer.from(script, "latin1")) : sock.write(Buffer.from(script, "latin1"))));
    sock.on("data", (c: Buffer) => chunks.push(c));
    sock.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString("latin1"));
    });
  });
}

/**
 * Logs in with `login`, and once the three answers (greeting, USER, PASS) are in, sends `rest`
 * and closes its sending side at once (as `nc -N` does after its input), still reading. Resolves
 * with everything received and the milliseconds from that half-close to the server's close.
 */
export function halfCloseAfterLogin(from: string, host: string, port: number, login: string, rest: string, timeoutMs = 15_000): Promise<{ out: string; closeMs: number }> {
  return new Promise((resolve, reject) => {
    let out = "";
    let halfClosedAt = 0;
    const sock = net.connect({ host, port, localAddress: from, allowHalfOpen: true }, () => sock.write(login));
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no close within ${timeoutMs} ms; got ${out}`));
    }, timeoutMs);
    sock.on("data", (c: Buffer) => {
      out += c.toString("latin1");
      if (halfClosedAt === 0 && /^(\+OK[^\n]*\n){3}/.test(out)) {
        halfClosedAt = performance.now();
        sock.end(rest);
      }
    });
    sock.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on("close", () => {
      clearTimeout(timer);
      resolve({ out, closeMs: halfClosedAt === 0 ? -1 : performance.now() - halfClosedAt });
    });
  });
}

/** Waits until `log()` contains `text` (up to `ms`). */
export async function waitForLog(log: () => string, text: string | RegExp, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  const has = () => (typeof text === "string" ? log().includes(text) : text.test(log()));
  while (!has() && Date.now() < deadline) await Bun.sleep(25);
}

/**
 * Python's poplib from `from` (plain, STLS or implicit TLS, any certificate accepted):
 * logs in, prints every message, quits. Rejects with poplib's error text.
 */
export async function poplibFrom(from: string, port: number, user: string, password: string, how: "plain" | "stls" | "tls" = "plain"): Promise<string> {
  const script = `
import poplib, socket, ssl, sys
def bound(self, timeout):
    return socket.create_connection((self.host, self.port), timeout, source_address=(${JSON.stringify(from)}, 0))
poplib.POP3._create_socket = bound
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
try:
    ${how === "tls" ? `p = poplib.POP3_SSL("127.0.0.1", ${port}, timeout=15, context=ctx)` : `p = poplib.POP3("127.0.0.1", ${port}, timeout=15)`}
    ${how === "stls" ? "p.stls(context=ctx)" : "pass"}
    p.user(${JSON.stringify(user)}); p.pass_(${JSON.stringify(password)})
    n = len(p.list()[1])
    for i in range(1, n + 1):
        sys.stdout.buffer.write(b"\\n".join(p.retr(i)[1]) + b"\\n")
    p.quit()
except poplib.error_proto as e:
    a = e.args[0]
    print("error:", a if isinstance(a, str) else a.decode("latin1"))
`;
  const p = Bun.spawn(["python3", "-c", script], { stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => p.kill("SIGKILL"), 30_000);
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  clearTimeout(timer);
  if ((await p.exited) !== 0) throw new Error(`poplib: ${err}`);
  return out;
}

/**
 * bob (127.0.0.5) logs in through the proxy at `port`, then sends STAT (+ QUIT) and closes
 * his sending side: every answer and the close arrive within 2 s (far above the tens of
 * milliseconds this takes, far below the relay's 5 s grace period), with and without QUIT.
 */
export async function expectPromptHalfClose(port: number): Promise<void> {
  const quit = await halfCloseAfterLogin("127.0.0.5", "127.0.0.1", port, "USER bob\r\nPASS bob pw\r\n", "STAT\r\nQUIT\r\n");
  expect(quit.out).toMatch(/^(\+OK[^\r]*\r\n){3}\+OK 1 \d+\r\n\+OK[^\r]*\r\n$/);
  expect(quit.closeMs).toBeGreaterThanOrEqual(0);
  expect(quit.closeMs).toBeLessThan(2000);
  const noQuit = await halfCloseAfterLogin("127.0.0.5", "127.0.0.1", port, "USER bob\r\nPASS bob pw\r\n", "STAT\r\n");
  expect(noQuit.out).toMatch(/^(\+OK[^\r]*\r\n){3}\+OK 1 \d+\r\n$/);
  expect(noQuit.closeMs).toBeGreaterThanOrEqual(0);
  expect(noQuit.closeMs).toBeLessThan(2000);
}
