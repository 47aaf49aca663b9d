/**
 * TLS benchmark (issue 6): what TLS costs in poppin's classic chain, against the same
 * chain in clear behind Debian's tcpserver (ucspi-tcp), measured in the same run:
 *   - whole sessions per second (connect, TLS handshake, login, STAT, QUIT), one client
 *     at a time: Debian tcpserver (plain) vs popup's STLS vs serve --tls (implicit);
 *   - RETR of one 20 MB message: plain vs STLS (popup relays for pop3d) vs serve --tls
 *     (serve relays for the whole chain).
 * Virtual user with a SHA-512 hash (the login is not what is measured). Uses dist/poppin
 * or $POPPIN_BIN; bounded (about 30 s).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import tls from "node:tls";
import { appletLinks } from "./fixtures.ts";

const POPPIN = process.env.POPPIN_BIN ?? resolve(import.meta.dir, "..", "dist", "poppin");
const TCPSERVER = "/usr/bin/tcpserver";
const SESSIONS = 40;
const BIG = 20 * 1024 * 1024;
if (!existsSync(POPPIN) || !existsSync(TCPSERVER)) {
  console.error(`need ${POPPIN} (npm run build or POPPIN_BIN) and ${TCPSERVER} (ucspi-tcp)`);
  process.exit(1);
}

const root = mkdtempSync(join(tmpdir(), "poppin-bench-tls-"));
chmodSync(root, 0o755);
process.on("exit", () => rmSync(root, { recursive: true, force: true }));
const bin = join(root, "bin");
mkdirSync(bin);
appletLinks(POPPIN, bin);
const uid = process.getuid!() === 0 ? 12345 : process.getuid!();
const gid = process.getuid!() === 0 ? 12345 : process.getgid!();
const home = join(root, "home");
mkdirSync(home);
spawnSync(join(bin, "maildirmake"), [join(home, "Maildir")]);
spawnSync(join(bin, "users"), ["-f", join(root, "users"), "add", "--sha512", "bench", String(uid), String(gid), home], { input: "pw\n" });
const line = "The quick brown fox jumps over the lazy dog, again and again.\n";
spawnSync(join(bin, "deliver"), [join(home, "Maildir")], { input: "Subject: big\n\n" + line.repeat(Math.ceil(BIG / line.length)) });
if (process.getuid!() === 0) spawnSync("chown", ["-R", `${uid}:${gid}`, home]);
const cert = join(root, "both.pem");
spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", join(root, "k.pem"), "-out", join(root, "c.pem"), "-days", "1", "-subj", "/CN=localhost"]);
writeFileSync(cert, Buffer.concat([readFileSync(join(root, "c.pem")), readFileSync(join(root, "k.pem"))]));

async function start(server: string, extra: string[]): Promise<{ port: number; child: ChildProcess }> {
  // -D (TCP_NODELAY): otherwise Nagle and delayed ACKs, not TLS, dominate small-answer sessions.
  const child = spawn(server, ["-1", "-HRD", "-c", "100", ...extra, "127.0.0.1", "0", join(bin, "qmail-popup"), "bench.example", join(bin, "checkpassword"), join(bin, "qmail-pop3d"), "Maildir"], {
    cwd: home, env: { PATH: "/usr/bin:/bin", POPPIN_USERDB: join(root, "users.cdb"), CERTFILE: cert }, stdio: ["ignore", "pipe", "ignore"],
  });
  const port = await new Promise<number>((res) => child.stdout!.once("data", (d: Buffer) => res(Number(d.toString().trim()))));
  return { port, child };
}

type Mode = "plain" | "stls" | "implicit";

/** One session; returns octets received. `retr`: RETR 1 too. */
async function session(port: number, mode: Mode, retr: boolean): Promise<number> {
  let sock: net.Socket | tls.TLSSocket = mode === "implicit"
    ? tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false })
    : net.connect(port, "127.0.0.1");
  let got = 0;
  let buf = "";
  const waiters: Array<() => void> = [];
  const onData = (d: Buffer) => { got += d.length; buf = (buf + d.toString("latin1")).slice(-64); for (const w of waiters.splice(0)) w(); };
  const until = (pattern: RegExp) => new Promise<void>((res, rej) => {
    const check = () => (pattern.test(buf) ? res() : waiters.push(check));
    sock.once("close", () => rej(new Error(`closed waiting for ${pattern}`)));
    check();
  });
  sock.on("data", onData);
  await until(/\+OK[^\n]*\r\n$/);
  if (mode === "stls") {
    sock.write("STLS\r\n");
    buf = "";
    await until(/\+OK Begin TLS negotiation\r\n$/);
    sock.removeListener("data", onData);
    sock = tls.connect({ socket: sock as net.Socket, rejectUnauthorized: false });
    await new Promise<void>((res) => sock.once("secureConnect", () => res()));
    sock.on("data", onData);
  }
  buf = "";
  sock.write(`USER bench\r\nPASS pw\r\nSTAT\r\n${retr ? "RETR 1\r\n" : ""}QUIT\r\n`);
  await new Promise<void>((res) => { sock.once("close", () => res()); sock.once("end", () => res()); });
  sock.destroy();
  return got;
}

async function measure(label: string, port: number, mode: Mode): Promise<{ perSecond: number; mbPerSecond: number }> {
  await session(port, mode, false); // warm-up
  let t = performance.now();
  for (let i = 0; i < SESSIONS; i++) await session(port, mode, false);
  const perSecond = SESSIONS / ((performance.now() - t) / 1000);
  let best = Infinity;
  let octets = 0;
  for (let i = 0; i < 3; i++) {
    t = performance.now();
    octets = await session(port, mode, true);
    best = Math.min(best, performance.now() - t);
  }
  const mbPerSecond = octets / 1e6 / (best / 1000);
  console.log(`${label.padEnd(44)} ${perSecond.toFixed(1).padStart(7)} sessions/s   RETR 20 MB: ${mbPerSecond.toFixed(0).padStart(5)} MB/s`);
  return { perSecond, mbPerSecond };
}

const debian = await start(TCPSERVER, []);
const stlsChain = await start(TCPSERVER, []);
const implicit = await start(join(bin, "tcpserver"), ["--tls"]);
try {
  console.log(`TLS cost in the classic chain (${SESSIONS} sequential sessions; RETR best of 3)`);
  const ref = await measure("Debian tcpserver + chain, plain (reference)", debian.port, "plain");
  const s = await measure("Debian tcpserver + popup STLS", stlsChain.port, "stls");
  const i = await measure("poppin serve --tls (implicit) + chain", implicit.port, "implicit");
  console.log(`ratio vs plain reference: STLS sessions ${(s.perSecond / ref.perSecond).toFixed(2)}x, RETR ${(s.mbPerSecond / ref.mbPerSecond).toFixed(2)}x; implicit sessions ${(i.perSecond / ref.perSecond).toFixed(2)}x, RETR ${(i.mbPerSecond / ref.mbPerSecond).toFixed(2)}x`);
} finally {
  for (const s of [debian, stlsChain, implicit]) s.child.kill("SIGTERM");
}
process.exit(0);
