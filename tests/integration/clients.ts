/**
 * Real POP3 clients from Debian, each driven the way a user would: log in, download every
 * message, delete them. Each returns the messages as the client stored them.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync, chmodSync, chownSync } from "node:fs";
import { join } from "node:path";
import { execAsync } from "../helpers.ts";

export interface Account { host: string; port: number; user: string; password: string }

/**
 * The command that runs Debian's getmail6 with the race in its wait for a delivery child taken
 * out (see getmail_run.py; the POP3 side is getmail's own): prefix it to getmail's arguments.
 */
export const GETMAIL = ["/usr/bin/python3", join(import.meta.dir, "getmail_run.py")];

function exec(cmd: string[], opts: { env?: Record<string, string>; cwd?: string; stdin?: string } = {}): Promise<{ code: number; out: string; err: string }> {
  return execAsync(cmd, { ...opts, timeoutMs: 60_000 });
}

function readMaildir(dir: string): Buffer[] {
  const files: string[] = [];
  for (const sub of ["new", "cur"]) {
    for (const f of readdirSync(join(dir, sub))) files.push(join(dir, sub, f));
  }
  return files.sort().map((f) => readFileSync(f));
}

/** Python's poplib: STAT, RETR each, DELE each, QUIT. Returns messages with CRLF line ends, exactly as received. */
export async function poplibFetch(a: Account, work: string, opts: { delete?: boolean; apop?: boolean } = {}): Promise<{ messages: Buffer[]; uidls: string[] }> {
  const script = `
import poplib, sys, json, base64
p = poplib.POP3(${JSON.stringify(a.host)}, ${a.port}, timeout=30)
${opts.apop ? `p.apop(${JSON.stringify(a.user)}, ${JSON.stringify(a.password)})` : `p.user(${JSON.stringify(a.user)}); p.pass_(${JSON.stringify(a.password)})`}
count, size = p.stat()
uidls = [l.decode().split(' ', 1)[1] for l in p.uidl()[1]]
out = []
total = 0
for i in range(1, count + 1):
    resp, lines, octets = p.retr(i)
    body = b''.join(l + b'\\r\\n' for l in lines)
    total += octets
    out.append(base64.b64encode(body).decode())
    ${opts.delete === false ? "pass" : "p.dele(i)"}
p.quit()
print(json.dumps({"messages": out, "uidls": uidls, "stat": [count, size]}))
`;
  const r = await exec(["python3", "-c", script], { cwd: work });
  if (r.code !== 0) throw new Error(`poplib failed: ${r.err}`);
  const parsed = JSON.parse(r.out) as { messages: string[]; uidls: string[] };
  return { messages: parsed.messages.map((m) => Buffer.from(m, "base64")), uidls: parsed.uidls };
}

/** Python's poplib STAT in a fresh session. */
export async function poplibStat(a: Account, work: string): Promise<[number, number]> {
  const script = `
import poplib
p = poplib.POP3(${JSON.stringify(a.host)}, ${a.port}, timeout=30)
p.user(${JSON.stringify(a.user)}); p.pass_(${JSON.stringify(a.password)})
print(*p.stat()); p.quit()
`;
  const r = await exec(["python3", "-c", script], { cwd: work });
  if (r.code !== 0) throw new Error(`poplib failed: ${r.err}`);
  const [count, size] = r.out.trim().split(" ").map(Number);
  return [count!, size!];
}

/** curl: LIST to learn the count, then one pop3://host/N per message, then DELE each. */
export async function curlFetch(a: Account, work: string): Promise<Buffer[]> {
  const base = `pop3://${a.host}:${a.port}/`;
  const auth = ["--user", `${a.user}:${a.password}`];
  const list = await exec(["curl", "-sS", "--max-time", "30", ...auth, base], { cwd: work });
  if (list.code !== 0) throw new Error(`curl LIST failed (${list.code}): ${list.err}`);
  const numbers = list.out.split("\r\n").filter((l) => /^\d+ \d+$/.test(l)).map((l) => Number(l.split(" ")[0]));
  const messages: Buffer[] = [];
  for (const n of numbers) {
    const file = join(work, `curl-${n}`);
    const r = await exec(["curl", "-sS", "--max-time", "30", ...auth, "-o", file, `${base}${n}`], { cwd: work });
    if (r.code !== 0) throw new Error(`curl RETR ${n} failed (${r.code}): ${r.err}`);
    messages.push(readFileSync(file));
  }
  // One session per DELE, each ending in QUIT: the highest number first, so the numbers still to
  // delete do not shift when an earlier session's deletion takes effect.
  for (const n of [...numbers].reverse()) {
    const r = await exec(["curl", "-sS", "--max-time", "30", ...auth, "-X", "DELE", "-I", `${base}${n}`], { cwd: work });
    if (r.code !== 0) throw new Error(`curl DELE ${n} failed (${r.code}): ${r.err}`);
  }
  return messages;
}

/** fetchmail with an MDA that writes each message to its own file. */
export async function fetchmailFetch(a: Account, work: string): Promise<Buffer[]> {
  const out = join(work, "fetchmail-out");
  mkdirSync(out, { recursive: true });
  const rc = join(work, "fetchmailrc");
  writeFileSync(rc, [
    "set no syslog",
    `poll ${a.host} service ${a.port} protocol pop3 auth password`,
    `  user "${a.user}" password "${a.password}" sslproto ""`,
    `  mda "/bin/sh -c 'cat > ${out}/$$$$'"`,
    "  no keep fetchall",
    "",
  ].join("\n"));
  chmodSync(rc, 0o600);
  const r = await exec(["fetchmail", "--nodetach", "--norewrite", "--pidfile", join(work, "pid"), "-f", rc], { cwd: work, env: { FETCHMAILHOME: work } });
  // 0: mail retrieved; 1: no mail.
  if (r.code !== 0) throw new Error(`fetchmail failed (${r.code}): ${r.err}${r.out}`);
  // fetchmail always puts its own Received: header (a line and its continuations) first.
  const dropReceived = (m: Buffer) => Buffer.from(m.toString("latin1").replace(/^Received: [^\n]*\n(?:[ \t][^\n]*\n)*/, ""), "latin1");
  return readdirSync(out).map((f) => dropReceived(readFileSync(join(out, f))));
}

/** mpop delivering into a Maildir of its own; `auth` is mpop's auth method (default user: USER/PASS). */
export async function mpopFetch(a: Account, work: string, auth = "user"): Promise<Buffer[]> {
  const md = join(work, "mpop-md");
  for (const sub of ["tmp", "new", "cur"]) mkdirSync(join(md, sub), { recursive: true });
  const rc = join(work, "mpoprc");
  writeFileSync(rc, [
    "account default", `host ${a.host}`, `port ${a.port}`, "tls off", `auth ${auth}`, `user ${a.user}`,
    `password ${a.password}`, `delivery maildir ${md}`, "received_header off", "keep off", "only_new off",
    `uidls_file ${join(work, "mpop-uidls")}`, "",
  ].join("\n"));
  chmodSync(rc, 0o600);
  const r = await exec(["mpop", "-C", rc, "-q"], { cwd: work });
  if (r.code !== 0) throw new Error(`mpop failed (${r.code}): ${r.err}${r.out}`);
  return readMaildir(md);
}

/** getmail6 into a Maildir, deleting on the server. */
export async function getmailFetch(a: Account, work: string): Promise<Buffer[]> {
  const md = join(work, "getmail-md");
  for (const sub of ["tmp", "new", "cur"]) mkdirSync(join(md, sub), { recursive: true });
  const root = process.getuid?.() === 0;
  if (root) {
    chmodSync(work, 0o755);
    for (const d of [md, ...["new", "cur", "tmp"].map((s) => join(md, s))]) chownSync(d, 65534, 65534);
  }
  const gdir = join(work, "getmail-state");
  mkdirSync(gdir, { recursive: true });
  const rc = join(gdir, "getmailrc");
  writeFileSync(rc, [
    "[retriever]", "type = SimplePOP3Retriever", `server = ${a.host}`, `port = ${a.port}`,
    `username = ${a.user}`, `password = ${a.password}`, "",
    // getmail refuses to deliver as root: then deliver as nobody into a Maildir nobody owns.
    "[destination]", "type = Maildir", `path = ${md}/`, ...(root ? ["user = nobody"] : []), "",
    "[options]", "delete = true", "read_all = true", "received = false", "delivered_to = false", "message_log_verbose = false", "verbose = 2", "",
  ].join("\n"));
  // Should getmail ever stall, SIGABRT at 50 s (before exec's SIGKILL at 60 s) makes Python print
  // where it waits (faulthandler): in the POP3 exchange or in its own delivery.
  const r = await exec(["timeout", "-s", "ABRT", "50", ...GETMAIL, `--getmaildir=${gdir}`, `--rcfile=${rc}`], {
    cwd: work, env: { PYTHONFAULTHANDLER: "1", PYTHONUNBUFFERED: "1" },
  });
  if (r.code !== 0) throw new Error(`getmail failed (${r.code}): ${r.err}${r.out}`);
  // getmail6 puts a Return-Path: line first.
  return readMaildir(md).map((m) => Buffer.from(m.toString("latin1").replace(/^Return-Path: <[^>]*>\n/, ""), "latin1"));
}

/** What a message looks like after any client stored it: LF line ends, a final newline. */
export function canonical(message: Uint8Array): string {
  let text = Buffer.from(message).toString("latin1").replace(/\r\n/g, "\n");
  if (!text.endsWith("\n")) text += "\n";
  return text;
}
