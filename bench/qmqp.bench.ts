/**
 * Costs of issue 8's pieces, each beside a reference measured in the same run:
 * - the daemontools helpers as a run script chains them (envdir, setuidgid, softlimit
 *   before `true`), ours against Debian's daemontools: start-up cost per chain;
 * - qmqpd behind serve over loopback into one Maildir (our QMQP client, one connection per
 *   message as QMQP works) against `poppin deliver` of the same messages with no network
 *   (qmail-qmqpd itself is not packaged by Debian, so the floor is our own delivery).
 * Uses dist/poppin or $POPPIN_BIN; bounded to well under a minute.
 */
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { appletLinks } from "./fixtures.ts";

const POPPIN = process.env.POPPIN_BIN ?? resolve(import.meta.dir, "..", "dist", "poppin");
const CHAINS = 30;
const MESSAGES = 150;
const work = mkdtempSync(join(tmpdir(), "poppin-bench-qmqp-"));
chmodSync(work, 0o755);

function must(cmd: string[], input?: string): void {
  const r = spawnSync(cmd[0], cmd.slice(1), { input, stdio: [input === undefined ? "ignore" : "pipe", "ignore", "inherit"] });
  if (r.status !== 0) throw new Error(`${cmd.join(" ")} exited ${r.status}`);
}

function chainMs(bin: (name: string) => string): number {
  const env = join(work, "env");
  const start = performance.now();
  for (let i = 0; i < CHAINS; i++) {
    must([bin("envdir"), env, bin("setuidgid"), "nobody", bin("softlimit"), "-o", "50", "true"]);
  }
  return (performance.now() - start) / CHAINS;
}

function ns(b: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${b.length}:`), b, Buffer.from(",")]);
}

function send(port: number, request: Buffer): Promise<string> {
  return new Promise((done, fail) => {
    const s = connect({ port, host: "127.0.0.1" });
    let got = "";
    const timer = setTimeout(() => { s.destroy(); fail(new Error("no answer")); }, 10_000);
    s.on("connect", () => s.write(request));
    s.on("data", (d: Buffer) => { got += d.toString("latin1"); });
    s.on("close", () => { clearTimeout(timer); done(got); });
    s.on("error", fail);
  });
}

async function main(): Promise<void> {
  const bin = join(work, "bin");
  mkdirSync(bin);
  appletLinks(POPPIN, bin);
  mkdirSync(join(work, "env"));
  writeFileSync(join(work, "env", "GREETING"), "hello\n");

  chainMs((n) => join(bin, n)); // warm the page cache
  const ours = chainMs((n) => join(bin, n));
  const theirs = chainMs((n) => `/usr/bin/${n}`);
  console.log(`envdir+setuidgid+softlimit chain, ${CHAINS} runs: poppin ${ours.toFixed(1)} ms, daemontools ${theirs.toFixed(2)} ms per chain (ratio ${(ours / theirs).toFixed(1)})`);

  const home = join(work, "home");
  mkdirSync(home);
  must([join(bin, "maildirmake"), join(home, "Maildir")]);
  must([join(bin, "maildirmake"), join(home, "Direct")]);
  must(["chown", "-R", "65534:65534", home]);
  const userdb = join(work, "users");
  must([join(bin, "users"), "-f", userdb, "add", "bench", "65534", "65534", home], "pw\n");
  const body = Buffer.from(`Subject: bench\n\n${"x".repeat(72)}\n`.repeat(140)); // about 10 kB

  let start = performance.now();
  for (let i = 0; i < MESSAGES; i++) {
    const r = spawnSync(join(bin, "deliver"), [join(home, "Direct")], { input: body });
    if (r.status !== 0) throw new Error("deliver failed");
  }
  const deliverMs = (performance.now() - start) / MESSAGES;

  const server = spawn(join(bin, "tcpserver"), ["-1", "-HR", "-c", "40", "127.0.0.1", "0", join(bin, "qmail-qmqpd")], { env: { PATH: "/usr/bin:/bin", POPPIN_USERDB: userdb, UID: "65534", GID: "65534" }, stdio: ["ignore", "pipe", "ignore"] });
  const port = await new Promise<number>((done) => server.stdout!.once("data", (d: Buffer) => done(Number(d.toString().trim()))));
  const request = ns(Buffer.concat([ns(body), ns(Buffer.from("s@example.org")), ns(Buffer.from("bench@example.org"))]));
  start = performance.now();
  for (let i = 0; i < MESSAGES; i += 4) {
    const answers = await Promise.all([0, 1, 2, 3].map(() => send(port, request)));
    for (const a of answers) if (!/^\d+:K/.test(a)) throw new Error(`answer ${a}`);
  }
  const qmqpMs = (performance.now() - start) / MESSAGES;
  server.kill("SIGTERM");
  const delivered = readdirSync(join(home, "Maildir", "new")).length;
  console.log(`qmqpd behind serve, ${delivered} messages of ${body.length} bytes, 4 clients at once: ${(1000 / qmqpMs).toFixed(0)} messages/s (${qmqpMs.toFixed(1)} ms each)`);
  console.log(`reference: poppin deliver of the same messages, one process each: ${(1000 / deliverMs).toFixed(0)} messages/s (ratio qmqpd/deliver time ${(qmqpMs / deliverMs).toFixed(2)})`);
}

try {
  await main();
} finally {
  rmSync(work, { recursive: true, force: true });
}
