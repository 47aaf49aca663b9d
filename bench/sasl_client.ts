/**
 * Login loops for the SASL benchmark: SCRAM-SHA-256 and OAUTHBEARER over POP3 AUTH at a
 * concurrency, like standalone_client.ts's loginRate for USER/PASS. The SCRAM client keeps
 * its SaltedPassword per salt (RFC 5802 section 5.1 allows it; real clients do), so the
 * figures are the server's work, not this client's 4096 PBKDF2 rounds per login.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import { Pop3Connection, sessionRate } from "./standalone_client.ts";

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const unb64 = (s: string) => Buffer.from(s, "base64").toString("utf8");

const salted = new Map<string, Buffer>();

async function scramLogin(c: Pop3Connection, user: string, password: string): Promise<void> {
  const greeting = await c.line();
  if (!greeting.startsWith("+OK")) throw new Error(`greeting: ${greeting}`);
  const nonce = randomBytes(18).toString("base64");
  const bare = `n=${user},r=${nonce}`;
  const first = await c.command(`AUTH SCRAM-SHA-256 ${b64(`n,,${bare}`)}`);
  if (!first.startsWith("+ ")) throw new Error(`AUTH: ${first}`);
  const serverFirst = unb64(first.slice(2).trim());
  const f = Object.fromEntries(serverFirst.split(",").map((p) => [p[0], p.slice(2)]));
  const key = `${f.s},${f.i}`;
  let sp = salted.get(key);
  if (sp === undefined) {
    sp = pbkdf2Sync(password, Buffer.from(f.s!, "base64"), Number(f.i), 32, "sha256");
    salted.set(key, sp);
  }
  const clientKey = createHmac("sha256", sp).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const withoutProof = `c=biws,r=${f.r}`;
  const auth = `${bare},${serverFirst},${withoutProof}`;
  const sig = createHmac("sha256", storedKey).update(auth).digest();
  for (let i = 0; i < sig.length; i++) sig[i] ^= clientKey[i]!;
  const v = await c.command(b64(`${withoutProof},p=${sig.toString("base64")}`));
  if (!v.startsWith("+ ")) throw new Error(`final: ${v}`);
  const expected = createHmac("sha256", createHmac("sha256", sp).update("Server Key").digest()).update(auth).digest("base64");
  if (unb64(v.slice(2).trim()) !== `v=${expected}`) throw new Error("bad server signature");
  const ok = await c.command("");
  if (!ok.startsWith("+OK")) throw new Error(`after v=: ${ok}`);
}

async function bearerLogin(c: Pop3Connection, user: string, token: string): Promise<void> {
  const greeting = await c.line();
  if (!greeting.startsWith("+OK")) throw new Error(`greeting: ${greeting}`);
  // RFC 5034: an initial response that would make the line longer than 255 octets goes after "+ ".
  const plus = await c.command("AUTH OAUTHBEARER");
  if (!plus.startsWith("+")) throw new Error(`AUTH: ${plus}`);
  const ok = await c.command(b64(`n,a=${user},\x01auth=Bearer ${token}\x01\x01`));
  if (!ok.startsWith("+OK")) throw new Error(`token: ${ok}`);
}

export type Mechanism = { kind: "scram"; password: string } | { kind: "bearer"; token: string } | { kind: "user"; password: string };

/** connect, log in with `mech`, STAT, QUIT as fast as possible at `concurrency` for `durationMs`: sessions/s. */
export function mechanismLoginRate(port: number, user: string, mech: Mechanism, concurrency: number, durationMs: number): Promise<{ rate: number; errors: number; firstError?: string }> {
  return sessionRate(port, (c) => mech.kind === "scram" ? scramLogin(c, user, mech.password)
    : mech.kind === "bearer" ? bearerLogin(c, user, mech.token) : c.login(user, mech.password), concurrency, durationMs);
}
