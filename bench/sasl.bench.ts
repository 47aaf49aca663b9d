/**
 * Login rates with the modern mechanisms, c=8: SCRAM-SHA-256 (4096 iterations, keys
 * stored by `poppin users`) on poppin's classic chain and serve --inline against Dovecot
 * with the very same stored keys (passwd-file, {SCRAM-SHA-256}); and OAUTHBEARER with an
 * ES256 JWT against the yescrypt USER/PASS login rate of the same server. Needs root
 * (Dovecot's master, the mail uid switch); uses dist/poppin or $POPPIN_BIN. BENCH_ONLY=scram-classic
 * (or a list of scram-classic, scram-inline, bearer-classic, bearer-inline, refusal) runs only
 * those cases; BENCH_ROUNDS sets the number of interleaved rounds (3).
 */
import { chmodSync, chownSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { dovecotAvailable, startDovecot } from "./dovecot_harness.ts";
import { benchRoot, chownTree, fillMaildir, median, portCounter, requireBinaryAndRoot } from "./fixtures.ts";
import { mechanismLoginRate, type Mechanism } from "./sasl_client.ts";
import { startPoppin } from "./standalone_servers.ts";
import { randomBytes } from "node:crypto";
import { ScramExchange } from "../mod/sasl/scram_server.ts";
import { userdbScramKeys } from "../mod/sasl/scram_userdb.ts";

const POPPIN = process.env.POPPIN_BIN ?? resolve(import.meta.dir, "..", "dist", "poppin");
const FULL = process.argv.includes("--full") || process.env.BENCH_FULL === "1";
const WINDOW_MS = FULL ? 5000 : 1500;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** BENCH_ONLY=scram-classic,scram-inline,bearer-classic,bearer-inline,refusal runs only the cases named. */
const ONLY = process.env.BENCH_ONLY?.split(",").map((s) => s.trim());
const wanted = (name: string) => ONLY === undefined || ONLY.includes(name);
const C = 8;
const UID = 65534;
const GID = 65534;
const PASSWORD = "bench-password";

requireBinaryAndRoot(POPPIN, "sasl", "Dovecot's master and the mail uid switch");
const haveDovecot = dovecotAvailable();
if (!haveDovecot) console.log("Dovecot not installed (apt-get install dovecot-core dovecot-pop3d): poppin figures only");

const root = benchRoot("sasl");
const nextPort = portCounter();


const home = join(root, "homes", "login");
mkdirSync(home, { recursive: true });
const userdb = join(root, "users");
const added = Bun.spawnSync([POPPIN, "users", "-f", userdb, "add", "login", String(UID), String(GID), home], { stdin: Buffer.from(`${PASSWORD}\n`) });
if (added.exitCode !== 0) throw new Error(`users add: ${added.stderr}`);
fillMaildir(join(home, "Maildir"), 3, () => 2000);
chownTree(join(root, "homes"), UID, GID);
chownSync(userdb, UID, GID);
chownSync(`${userdb}.cdb`, UID, GID);
const line = readFileSync(userdb, "utf8").split("\n").find((l) => l.startsWith("login:"))!;
const [, field] = line.split(":");
const [cryptHash, , scram256] = field!.split(" ");

// A JWKS with one ES256 key, and a token for "login" valid for the whole run.
const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
const jwks = join(root, "jwks.json");
writeFileSync(jwks, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "bench", alg: "ES256" }] }));
chmodSync(jwks, 0o644);
const token = await new SignJWT({ email: "login" }).setProtectedHeader({ alg: "ES256", kid: "bench" })
  .setIssuer("https://issuer.example").setAudience("bench.example").setIssuedAt().setExpirationTime("2h").sign(privateKey);
const oauthEnv = { POPPIN_OAUTH_JWKS: jwks, POPPIN_OAUTH_ISSUER: "https://issuer.example", POPPIN_OAUTH_AUDIENCE: "bench.example" };

const running: { stop(): Promise<void> }[] = [];
const servers: Record<string, number> = {};
for (const mode of ["classic", "inline"] as const) {
  const s = await startPoppin({ poppin: POPPIN, mode, userdb: `${userdb}.cdb`, uid: UID, gid: GID, limit: 200, popupOptions: ["--mailbox-lock=none"], env: oauthEnv });
  running.push(s);
  servers[mode] = s.port;
}
if (haveDovecot) {
  const dir = join(root, "dovecot");
  mkdirSync(dir);
  // Dovecot stores SCRAM keys in the same notation: the same salt, iterations and keys as poppin's.
  const d = await startDovecot({
    root: dir, port: nextPort(), maxSessions: 200, authMechanisms: "plain scram-sha-256",
    users: [{ login: "login", hash: cryptHash!, password: scram256, uid: UID, gid: GID, home }],
  });
  running.push(d);
  servers.dovecot = d.port;
}

/** Median login rates of each case, the cases interleaved round by round so machine load hits them alike. */
async function rates(cases: { port: number; mech: Mechanism }[]): Promise<number[]> {
  for (const c of cases) await mechanismLoginRate(c.port, "login", c.mech, 1, 200); // warm
  const figures: number[][] = cases.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    for (const [i, c] of cases.entries()) {
      const got = await mechanismLoginRate(c.port, "login", c.mech, C, WINDOW_MS);
      if (got.errors > 0) console.log(`  (${got.errors} failed sessions: ${got.firstError})`);
      figures[i]!.push(got.rate);
    }
  }
  return figures.map(median);
}

console.log(`login rates, c=${C}, ${ROUNDS} interleaved rounds of ${WINDOW_MS / 1000} s (median), on ${cpus().length} x ${cpus()[0]?.model ?? "?"}`);
try {
  const scram: Mechanism = { kind: "scram", password: PASSWORD };
  for (const mode of ["classic", "inline"] as const) {
    if (!wanted(`scram-${mode}`)) continue;
    const [ours, dovecot] = await rates([{ port: servers[mode]!, mech: scram }, ...(haveDovecot ? [{ port: servers.dovecot!, mech: scram }] : [])]);
    console.log(`SCRAM-SHA-256 (4096) ${mode.padEnd(8)} ${ours!.toFixed(1).padStart(8)} /s` +
      (dovecot === undefined ? "" : `   Dovecot ${dovecot.toFixed(1).padStart(8)} /s   ratio ${(ours! / dovecot).toFixed(2)}`));
  }
  for (const mode of ["classic", "inline"] as const) {
    if (!wanted(`bearer-${mode}`)) continue;
    const [jwt, yescrypt] = await rates([{ port: servers[mode]!, mech: { kind: "bearer", token } }, { port: servers[mode]!, mech: { kind: "user", password: PASSWORD } }]);
    console.log(`OAUTHBEARER (ES256 JWT) ${mode.padEnd(8)} ${jwt!.toFixed(1).padStart(8)} /s   yescrypt USER/PASS ${yescrypt!.toFixed(1).padStart(8)} /s   ratio ${(jwt! / yescrypt!).toFixed(2)}`);
  }
  // Refusal timing: a known user with a wrong password against a user with no keys (decoy
  // keys), and against a known user the lists refuse (auth-file): the same work, so the ratios
  // should be 1 within noise. In process, exchange by exchange.
  if (wanted("refusal")) {
    const keysOf = userdbScramKeys(`${userdb}.cdb`);
    const refusal = (user: string, listed = true) => {
      const admit = listed ? undefined : () => ({ refused: "not listed in auth-file" });
      const ex = new ScramExchange("SCRAM-SHA-256", "sha256", false, { keys: keysOf, timestamp: "<1.2@bench>", plusOffered: false, admit });
      const nonce = randomBytes(18).toString("base64");
      const sf = Buffer.from((ex.step(Buffer.from(`n,,n=${user},r=${nonce}`)) as { data: Uint8Array }).data).toString();
      const r = /r=([^,]+)/.exec(sf)![1];
      const step = ex.step(Buffer.from(`c=biws,r=${r},p=${randomBytes(32).toString("base64")}`));
      if (step.kind !== "refused") throw new Error(step.kind);
    };
    for (let i = 0; i < 500; i++) refusal(i % 2 === 0 ? "login" : `warm${i}`);
    const totals = { known: 0, unknown: 0, unlisted: 0 };
    for (let i = 0; i < 2000; i++) {
      for (const [name, user] of [["known", "login"], ["unknown", `ghost${i}`], ["unlisted", "login"]] as const) {
        const t0 = performance.now();
        refusal(user, name !== "unlisted");
        totals[name] += performance.now() - t0;
      }
    }
    console.log(`SCRAM refusal, known user wrong proof ${(totals.known / 2).toFixed(1).padStart(6)} us   unknown user ${(totals.unknown / 2).toFixed(1).padStart(6)} us   ratio ${(totals.known / totals.unknown).toFixed(2)}`
      + `   refused by auth-file ${(totals.unlisted / 2).toFixed(1).padStart(6)} us   ratio ${(totals.known / totals.unlisted).toFixed(2)}`);
  }
} finally {
  for (const s of running) await s.stop();
  rmSync(root, { recursive: true, force: true });
}
