/**
 * serve benchmark, against Debian's tcpserver in the same run:
 *  - connections per second through the server to a trivial program (/bin/echo), a client
 *    keeping CONCURRENCY connections going for up to SECONDS or CONNECTIONS connections;
 *  - the same through the full POP3 chain (qmail-popup, checkpassword, qmail-pop3d from
 *    poppin, under each server): greeting, QUIT, close;
 *  - the resident memory of the server process itself holding 1,000 open connections
 *    (each with its own /bin/cat child).
 * Uses $POPPIN_BIN or dist/poppin; bounded to well under a minute.
 */
import net from "node:net";
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const CONNECTIONS = Number(process.env.SERVE_BENCH_CONNECTIONS ?? 3000);
const SECONDS = Number(process.env.SERVE_BENCH_SECONDS ?? 6);
const CONCURRENCY = 10;
const HELD = Number(process.env.SERVE_BENCH_HELD ?? 1000);
const POPPIN = process.env.POPPIN_BIN ?? resolve(import.meta.dir, "..", "dist", "poppin");
const dir = mkdtempSync(join(tmpdir(), "poppin-serve-bench-"));
for (const name of ["tcpserver", "qmail-popup", "checkpassword", "qmail-pop3d"]) symlinkSync(POPPIN, join(dir, name));
const DEBIAN = Bun.which("tcpserver", { PATH: "/usr/bin:/bin" });
if (!DEBIAN) throw new Error("tcpserver not installed (apt-get install ucspi-tcp)");
const OURS = join(dir, "tcpserver");

interface Started { port: number; proc: ReturnType<typeof Bun.spawn> }

async function start(bin: string, args: string[]): Promise<Started> {
  const proc = Bun.spawn([bin, "-1", ...args], { stdout: "pipe", stderr: "ignore", stdin: "ignore" });
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const r = await Promise.race([reader.read(), Bun.sleep(5000).then(() => null)]);
    if (!r || r.done) throw new Error(`${bin} did not start`);
    text += Buffer.from(r.value).toString();
  }
  return { port: Number(text.trim()), proc };
}

async function stop(s: Started): Promise<void> {
  s.proc.kill("SIGTERM");
  await Promise.race([s.proc.exited, Bun.sleep(2000)]);
}

/** One connection: optionally answer the first output with `reply`; resolves true if anything came back. */
function connection(port: number, reply?: string): Promise<boolean> {
  return new Promise((done) => {
    const s = net.connect(port, "127.0.0.1");
    let got = false;
    s.setTimeout(5000, () => s.destroy());
    s.on("data", () => { if (!got && reply) s.write(reply); got = true; });
    s.on("error", () => {});
    s.on("close", () => done(got));
  });
}

async function rate(port: number, reply?: string): Promise<{ perSecond: number; ok: number; total: number }> {
  const deadline = performance.now() + SECONDS * 1000;
  let total = 0;
  let ok = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (total < CONNECTIONS && performance.now() < deadline) {
      total++;
      if (await connection(port, reply)) ok++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { perSecond: total / ((performance.now() - t0) / 1000), ok, total };
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : NaN;
}

function childCount(pid: number): number {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).length;
  } catch {
    return -1;
  }
}

async function heldMemory(bin: string): Promise<{ rssKb: number; children: number }> {
  const s = await start(bin, ["-HR", "-l", "bench.example", "-c", String(HELD + 100), "-b", "256", "127.0.0.1", "0", "/bin/cat"]);
  const sockets: net.Socket[] = [];
  for (let i = 0; i < HELD; i++) {
    const c = net.connect(s.port, "127.0.0.1");
    c.on("error", () => {});
    sockets.push(c);
    if (i % 50 === 49) await Bun.sleep(20);
  }
  const deadline = performance.now() + 20_000;
  while (childCount(s.proc.pid) < HELD && performance.now() < deadline) await Bun.sleep(100);
  const result = { rssKb: rssKb(s.proc.pid), children: childCount(s.proc.pid) };
  for (const c of sockets) c.destroy();
  await Bun.sleep(300);
  await stop(s);
  return result;
}

const fmt = (n: number) => n.toFixed(0).padStart(8);

try {
  console.log(`serve: ${CONCURRENCY} concurrent clients, up to ${CONNECTIONS} connections or ${SECONDS} s per figure`);
  const rows: [string, number, number][] = [];
  for (const [label, program, reply] of [
    ["echo", ["/bin/echo", "ok"], undefined],
    ["pop3 chain", [join(dir, "qmail-popup"), "bench.example", join(dir, "checkpassword"), join(dir, "qmail-pop3d"), "Maildir"], "QUIT\r\n"],
  ] as [string, string[], string | undefined][]) {
    const figures: number[] = [];
    for (const bin of [DEBIAN, OURS]) {
      const s = await start(bin, ["-HR", "-l", "bench.example", "127.0.0.1", "0", ...program]);
      const r = await rate(s.port, reply);
      await stop(s);
      if (r.ok < r.total) console.log(`  ${label} via ${bin === OURS ? "poppin" : "debian"}: only ${r.ok}/${r.total} connections answered`);
      figures.push(r.perSecond);
    }
    rows.push([label, figures[0], figures[1]]);
  }
  console.log("connections/s      tcpserver    serve   ratio (serve/tcpserver)");
  for (const [label, theirs, ours] of rows) console.log(`  ${label.padEnd(14)} ${fmt(theirs)} ${fmt(ours)}   ${(ours / theirs).toFixed(2)}`);
  const theirsMem = await heldMemory(DEBIAN);
  const oursMem = await heldMemory(OURS);
  console.log(`memory of the server process with ${HELD} open connections (VmRSS):`);
  console.log(`  tcpserver ${theirsMem.rssKb} kB (${theirsMem.children} children), serve ${oursMem.rssKb} kB (${oursMem.children} children), ratio ${(oursMem.rssKb / theirsMem.rssKb).toFixed(1)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
