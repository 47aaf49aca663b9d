/**
 * `npm start`: a working POP3 service in one command. Makes a demo tree in a fresh temporary
 * directory (so it works from any clone, even one under a 0700 /root): the classic names, a
 * virtual user `demo` (password `demo`) whose Maildir holds a few sample messages, and runs
 *   tcpserver -v -HR -c 40 127.0.0.1 PORT qmail-popup HOST checkpassword qmail-pop3d Maildir
 * with its log on stderr, exactly as a run script would. It prints how to fetch the mail only
 * once the port is bound: a port someone else holds is an error, not a curl command that talks
 * to their server. PORT (default 1110) picks the port; Ctrl-C stops it and removes the tree.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dir, "..");
const poppin = resolve(process.env.POPPIN_BIN ?? join(root, "dist", "poppin"));
const port = process.env.PORT ?? "1110";
const user = "demo";
const password = "demo";
const CHAIN_NAMES = ["tcpserver", "qmail-popup", "checkpassword", "qmail-pop3d"];

function must(cmd: string[], stdin?: string): void {
  const r = Bun.spawnSync(cmd, { stdin: stdin === undefined ? "ignore" : Buffer.from(stdin), stdout: "ignore", stderr: "inherit" });
  if (r.exitCode !== 0) {
    console.error(`demo: fatal: ${cmd.join(" ")} exited ${r.exitCode}`);
    process.exit(111);
  }
}

function chownTree(dir: string, uid: number, gid: number): void {
  chownSync(dir, uid, gid);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) chownTree(path, uid, gid);
    else chownSync(path, uid, gid);
  }
}

if (!/^[0-9]{1,5}$/.test(port) || Number(port) > 65535) {
  console.error(`demo: fatal: PORT=${port} is not a port number`);
  process.exit(100);
}
if (!existsSync(poppin)) {
  console.error("demo: fatal: dist/poppin is missing: run npm run build (npm start does)");
  process.exit(111);
}

// As root the mail belongs to an unprivileged uid (nobody), as in the single-UID setup; nobody
// must reach the binary, the Maildir and the user database, wherever the clone is.
const asRoot = process.getuid?.() === 0;
const uid = asRoot ? 65534 : process.getuid!();
const gid = asRoot ? 65534 : process.getgid!();
const demo = process.env.DEMO_DIR ? resolve(process.env.DEMO_DIR) : mkdtempSync(join(tmpdir(), "poppin-demo-"));
const ownTree = !process.env.DEMO_DIR;
rmSync(join(demo, "bin"), { recursive: true, force: true });
rmSync(join(demo, "home"), { recursive: true, force: true });
mkdirSync(demo, { recursive: true });
chmodSync(demo, 0o755);
const bin = join(demo, "bin");
const home = join(demo, "home", user);
const userdb = join(demo, "users");
mkdirSync(bin, { recursive: true });
if (asRoot) {
  // A copy of the binary that nobody can run (the clone's dist/ may sit under a 0700 directory).
  must([poppin, "install", "--prefix", demo]);
} else {
  for (const name of ["poppin", ...CHAIN_NAMES]) symlinkSync(realpathSync(poppin), join(bin, name));
}
const self = join(bin, "poppin");
mkdirSync(home, { recursive: true });
must([self, "maildirmake", join(home, "Maildir")]);
must([self, "users", "-f", userdb, "add", user, String(uid), String(gid), home], `${password}\n`);
const samples = [
  `From: poppin <postmaster@${hostname()}>\nTo: demo\nSubject: Welcome to poppin\n\nThis message came through qmail-popup, checkpassword and qmail-pop3d.\n`,
  "From: a friend <friend@example.org>\nTo: demo\nSubject: dots and 8-bit\n\n.a line starting with a dot\ncaf\xe9 in latin-1\n",
  "From: robot <robot@example.org>\nTo: demo\nSubject: a longer one\n\n" + Array.from({ length: 200 }, (_, i) => `line ${i + 1}`).join("\n") + "\n",
];
for (const message of samples) must([self, "deliver", join(home, "Maildir")], message);
if (asRoot) chownTree(home, uid, gid);

function cleanup(): void {
  if (ownTree) rmSync(demo, { recursive: true, force: true });
}

// -1: tcpserver prints the port once it is bound; only then do we say how to use it.
const server = Bun.spawn([
  join(bin, "tcpserver"), "-1", "-v", "-HR", "-c", "40", "127.0.0.1", port,
  join(bin, "qmail-popup"), hostname(), join(bin, "checkpassword"), join(bin, "qmail-pop3d"), "Maildir",
], {
  cwd: demo,
  env: { ...process.env, POPPIN_USERDB: `${userdb}.cdb` },
  stdin: "ignore",
  stdout: "pipe",
  stderr: "inherit",
});
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => server.kill("SIGTERM"));

const reader = (server.stdout as ReadableStream<Uint8Array>).getReader();
let bound = "";
while (!bound.includes("\n")) {
  const { value, done } = await reader.read();
  if (done) break;
  bound += Buffer.from(value).toString();
}
if (!bound.includes("\n")) {
  const code = await server.exited;
  console.error(`demo: fatal: the POP3 service could not start on 127.0.0.1:${port} (see the tcpserver line above); ` +
    `another port: PORT=2110 npm start`);
  cleanup();
  process.exit(code === 0 ? 111 : code);
}
const actual = bound.trim();
console.error(`
poppin demo: listening on 127.0.0.1:${actual} (PORT=N npm start for another port)
  user "${user}", password "${password}", Maildir ${home}/Maildir
  list:     curl --user ${user}:${password} pop3://127.0.0.1:${actual}/
  fetch 1:  curl --user ${user}:${password} pop3://127.0.0.1:${actual}/1
  by hand:  nc -C 127.0.0.1 ${actual}  (USER ${user} / PASS ${password} / STAT / RETR 1 / QUIT; nc: apt-get install netcat-openbsd)
  deliver:  echo 'Subject: hi' | ${asRoot ? `${bin}/setuidgid nobody ` : ""}${self} deliver ${home}/Maildir
Ctrl-C stops the service${ownTree ? ` and removes ${demo}` : ""}.
`);
reader.releaseLock();
const code = await server.exited;
cleanup();
process.exit(code);
