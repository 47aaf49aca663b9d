/**
 * `npm start`: a working POP3 service in one command. Makes ./demo with the applet symlinks,
 * a virtual user `demo` (password `demo`) whose Maildir holds a few sample messages, and runs
 *   tcpserver -v -HR -c 40 127.0.0.1 1110 qmail-popup HOST checkpassword qmail-pop3d Maildir
 * with its log on stderr, exactly as a run script would. Ctrl-C stops it.
 */
import { chownSync, existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { hostname } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dir, "..");
const poppin = process.env.POPPIN_BIN ?? join(root, "dist", "poppin");
const demo = resolve(process.env.DEMO_DIR ?? join(root, "demo"));
const bin = join(demo, "bin");
const home = join(demo, "home", "demo");
const userdb = join(demo, "users");
const port = process.env.PORT ?? "1110";
const user = "demo";
const password = "demo";

function must(cmd: string[], stdin?: string): void {
  const r = Bun.spawnSync(cmd, { stdin: stdin === undefined ? "ignore" : Buffer.from(stdin), stdout: "inherit", stderr: "inherit" });
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

if (!existsSync(poppin)) {
  console.error("demo: fatal: dist/poppin is missing: run npm run build (npm start does)");
  process.exit(111);
}
rmSync(demo, { recursive: true, force: true });
mkdirSync(bin, { recursive: true });
mkdirSync(join(demo, "home"), { recursive: true });
must([poppin, "install", "--prefix", bin]);

// As root the mail belongs to an unprivileged uid (nobody), as in the single-UID setup.
const asRoot = process.getuid?.() === 0;
const uid = asRoot ? 65534 : process.getuid!();
const gid = asRoot ? 65534 : process.getgid!();
mkdirSync(home, { recursive: true });
must([join(bin, "maildirmake"), join(home, "Maildir")]);
must([join(bin, "users"), "-f", userdb, "add", user, String(uid), String(gid), home], `${password}\n`);

const samples = [
  `From: poppin <postmaster@${hostname()}>\nTo: demo\nSubject: Welcome to poppin\n\nThis message came through qmail-popup, checkpassword and qmail-pop3d.\n`,
  "From: a friend <friend@example.org>\nTo: demo\nSubject: dots and 8-bit\n\n.a line starting with a dot\ncaf\xe9 in latin-1\n",
  "From: robot <robot@example.org>\nTo: demo\nSubject: a longer one\n\n" + Array.from({ length: 200 }, (_, i) => `line ${i + 1}`).join("\n") + "\n",
];
for (const message of samples) must([join(bin, "deliver"), join(home, "Maildir")], message);
if (asRoot) chownTree(home, uid, gid);

console.error(`
poppin demo: user "${user}", password "${password}", Maildir ${home}/Maildir
  list:     curl --user ${user}:${password} pop3://127.0.0.1:${port}/
  fetch 1:  curl --user ${user}:${password} pop3://127.0.0.1:${port}/1
  by hand:  nc 127.0.0.1 ${port}     (USER ${user} / PASS ${password} / STAT / RETR 1 / QUIT)
  deliver:  echo 'Subject: hi' | ${bin}/deliver ${home}/Maildir
Ctrl-C stops the service.
`);

const server = Bun.spawn([
  join(bin, "tcpserver"), "-v", "-HR", "-c", "40", "127.0.0.1", port,
  join(bin, "qmail-popup"), hostname(), join(bin, "checkpassword"), join(bin, "qmail-pop3d"), "Maildir",
], {
  cwd: demo,
  env: { ...process.env, POPPIN_USERDB: `${userdb}.cdb` },
  stdin: "ignore",
  stdout: "inherit",
  stderr: "inherit",
});
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => server.kill("SIGTERM"));
process.exit(await server.exited);
