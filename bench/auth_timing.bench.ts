/**
 * Login answer times as a client sees them (PASS sent to -ERR received), for a wrong
 * password on a yescrypt account and on a sha512 account, an unknown user, and a user that
 * popup's auth-file does not list, behind `serve` (classic chain) and `serve --inline`, with
 * the failure delay off. The reference is the unknown user measured in the same run: each
 * ratio should be 1.00 (no timing signal tells which logins exist or what hash they have).
 * Medians of interleaved rounds. Uses dist/poppin or $POPPIN_BIN; runs as root (-u nobody).
 */
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const POPPIN = process.env.POPPIN_BIN ?? resolve(import.meta.dir, "..", "dist", "poppin");
const ROUNDS = Number(process.env.ROUNDS ?? 25);
const UID = 65534;

const root = mkdtempSync(join(tmpdir(), "poppin-auth-timing-"));
chmodSync(root, 0o755);
const userdb = join(root, "users");
for (const [name, flags] of [["yes", []], ["sha", ["--sha512"]]] as const) {
  const home = join(root, name);
  mkdirSync(join(home, "Maildir", "new"), { recursive: true });
  const r = Bun.spawnSync([POPPIN, "users", "-f", userdb, "add", ...flags, name, String(UID), String(UID), home], { stdin: Buffer.from("secret\n") });
  if (r.exitCode !== 0) throw new Error(`users add: ${r.stderr}`);
}
chownSync(userdb, UID, UID);
const allowed = join(root, "allowed");
writeFileSync(allowed, "yes\nsha\n");

async function start(inline: boolean, popupFlags: string[]): Promise<{ port: number; proc: ReturnType<typeof Bun.spawn> }> {
  const argv = [POPPIN, "serve", ...(inline ? ["--inline"] : []), "-1", "-u", String(UID), "-g", String(UID), "127.0.0.1", "0",
    POPPIN, "popup", ...popupFlags, "bench.example", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"];
  const proc = Bun.spawn(argv, { env: { PATH: "/usr/bin:/bin", POPPIN_USERDB: userdb, POPPIN_AUTH_FAILURE_DELAY: "0" }, stdout: "pipe", stderr: "ignore" });
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const next = await reader.read();
    if (next.done) throw new Error("serve printed no port");
    text += Buffer.from(next.value).toString();
  }
  return { port: Number(text.trim()), proc };
}

/** ms from PASS to its answer. */
function passMs(port: number, user: string): Promise<number> {
  return new Promise((done, fail) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    let buf = "";
    let step = 0;
    let sent = 0;
    const timer = setTimeout(() => { sock.destroy(); fail(new Error("no answer")); }, 10_000);
    sock.on("data", (c) => {
      buf += c.toString("latin1");
      const lines = buf.split("\r\n").length - 1;
      if (step === 0 && lines >= 1) { step = 1; sock.write(`USER ${user}\r\n`); }
      else if (step === 1 && lines >= 2) { step = 2; sent = performance.now(); sock.write("PASS wrong-password\r\n"); }
      else if (step === 2 && lines >= 3) {
        const ms = performance.now() - sent;
        clearTimeout(timer);
        sock.end("QUIT\r\n");
        if (!buf.split("\r\n")[2]!.startsWith("-ERR [AUTH]")) fail(new Error(`unexpected ${buf}`));
        done(ms);
      }
    });
    sock.on("error", fail);
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

try {
  for (const inline of [false, true]) {
    const plain = await start(inline, []);
    const listed = await start(inline, [`--auth-file=${allowed}`]);
    const cases = [
      { name: "unknown user", port: plain.port, user: "nosuch" },
      { name: "yescrypt account, wrong password", port: plain.port, user: "yes" },
      { name: "sha512 account, wrong password", port: plain.port, user: "sha" },
      { name: "not in auth-file (policy refusal)", port: listed.port, user: "unlisted" },
      { name: "in auth-file, wrong password", port: listed.port, user: "sha" },
    ];
    const times = cases.map(() => [] as number[]);
    for (const c of cases) await passMs(c.port, c.user); // warm up
    for (let r = 0; r < ROUNDS; r++) for (const [i, c] of cases.entries()) times[i]!.push(await passMs(c.port, c.user));
    const ref = median(times[0]!);
    console.log(`\n${inline ? "serve --inline" : "serve (classic chain)"}: PASS -> -ERR, median of ${ROUNDS}`);
    for (const [i, c] of cases.entries()) {
      const m = median(times[i]!);
      console.log(`  ${c.name.padEnd(36)} ${m.toFixed(2).padStart(7)} ms   ratio to unknown user ${(m / ref).toFixed(2)}`);
    }
    plain.proc.kill();
    listed.proc.kill();
    await Promise.all([plain.proc.exited, listed.proc.exited]);
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
