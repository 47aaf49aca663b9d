/**
 * checkpassword's costs: one crypt_r through bun:ffi against the same libcrypt called
 * from Python (the reference: C's crypt() behind a thin binding), and whole
 * checkpassword processes: a known user with a wrong password against an unknown user
 * (the ratio should be 1: timing must not reveal which logins exist), and a login that
 * execs `true`. Uses dist/poppin or $POPPIN_BIN; needs python3.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { cryptHash, hashPassword } from "../mod/sys/crypt.ts";

const POPPIN = process.env.POPPIN_BIN ?? resolve(import.meta.dir, "..", "dist", "poppin");
const CHECKS = 40;
const LOGINS = 20;

function perCallMs(fn: () => void, n: number): number {
  const start = performance.now();
  for (let i = 0; i < n; i++) fn();
  return (performance.now() - start) / n;
}

function pythonCryptMs(hash: string, n: number): number {
  const script = `import crypt, sys, time\nh=sys.argv[1]\nt=time.perf_counter()\nfor _ in range(${n}): crypt.crypt("wrong password", h)\nprint((time.perf_counter()-t)/${n}*1000)`;
  const r = Bun.spawnSync(["python3", "-W", "ignore", "-c", script, hash]);
  if (r.exitCode !== 0) throw new Error(`python3 failed: ${r.stderr}`);
  return Number(r.stdout.toString().trim());
}

function checkpasswordOnce(data: string, env: Record<string, string>): Promise<number> {
  return new Promise((done, fail) => {
    const child = spawn(POPPIN, ["checkpassword", "true"], { stdio: ["ignore", "ignore", "inherit", "pipe"], env });
    (child.stdio[3] as NodeJS.WritableStream).end(Buffer.from(data, "latin1"));
    const timer = setTimeout(() => { child.kill("SIGKILL"); fail(new Error("checkpassword hung")); }, 10_000);
    child.on("close", (code) => { clearTimeout(timer); done(code ?? -1); });
  });
}

/** Mean ms per checkpassword run for each case, the cases interleaved so machine load hits them alike. */
async function processMs(cases: { data: string; expected: number }[], env: Record<string, string>): Promise<number[]> {
  const totals = cases.map(() => 0);
  for (let i = 0; i < LOGINS; i++) {
    for (const [k, c] of cases.entries()) {
      const start = performance.now();
      const code = await checkpasswordOnce(c.data, env);
      totals[k] += performance.now() - start;
      if (code !== c.expected) throw new Error(`checkpassword exited ${code}, expected ${c.expected}`);
    }
  }
  return totals.map((t) => t / LOGINS);
}

const row = (name: string, ours: number, ref: number | undefined, refName = "") =>
  console.log(`${name.padEnd(46)} ${ours.toFixed(2).padStart(8)} ms${ref === undefined ? "" : `   ${refName} ${ref.toFixed(2).padStart(7)} ms   ratio ${(ours / ref).toFixed(2)}`}`);

const pw = Buffer.from("bench password");
const ROUNDS = 4;
for (const kind of ["yescrypt", "sha512"] as const) {
  const hash = hashPassword(pw, kind);
  let ours = 0;
  let python = 0;
  // Alternate rounds of ours and Python's so load from other processes hits both alike.
  for (let r = 0; r < ROUNDS; r++) {
    ours += perCallMs(() => cryptHash(Buffer.from("wrong password"), hash), CHECKS / ROUNDS) / ROUNDS;
    python += pythonCryptMs(hash, CHECKS / ROUNDS) / ROUNDS;
  }
  row(`crypt_r ${kind} (bun:ffi, per check)`, ours, python, "python3 crypt");
}

const dir = mkdtempSync(join(tmpdir(), "poppin-bench-auth-"));
try {
  const db = join(dir, "users");
  writeFileSync(db, `joe:${hashPassword(pw, "yescrypt")}:${process.getuid!()}:${process.getgid!()}:${dir}\n`, { mode: 0o600 });
  const env = { PATH: "/usr/bin:/bin", POPPIN_USERDB: db, POPPIN_MIN_UID: "0" };
  const [wrong, unknown, ok] = await processMs([
    { data: "joe\0wrong password\0", expected: 1 },
    { data: "nosuchuser\0wrong password\0", expected: 1 },
    { data: "joe\0bench password\0", expected: 0 },
  ], env);
  row("checkpassword: known user, wrong password", wrong, unknown, "unknown user");
  row("checkpassword: right password, exec true", ok, undefined);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
