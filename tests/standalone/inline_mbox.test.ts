/**
 * mbox spools (`pop3d [mbox options] mbox:`) under serve --inline: served by pop3d's own
 * mbox code in a process of the session (as root under the user's uid, under -u with serve's),
 * byte for byte as the classic chain serves them; a bad mbox option is refused at start.
 */
import { afterAll, expect, test } from "bun:test";
import { chownSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import tls from "node:tls";
import { POPPIN, run } from "../helpers.ts";
import { makeCertificate } from "../tls/harness.ts";
import { MAIL_GID, MAIL_UID, startServer, talk, virtualSetup, withoutTimestamp, type Running } from "./harness.ts";

const setup = virtualSetup([]);
const spoolDir = join(setup.root, "spool");
mkdirSync(spoolDir);
chownSync(spoolDir, MAIL_UID, MAIL_GID);
const spool = join(spoolDir, "joe");
const SPOOL = "From a@example.org Mon Nov  3 10:00:00 2026\nSubject: one\n\nfirst\n>From quoted\n\nFrom b@example.org Mon Nov  3 10:01:00 2026\nSubject: two\n\nsecond\n.dot\n";
function fillSpool(): void {
  writeFileSync(spool, SPOOL, { mode: 0o600 });
  chownSync(spool, MAIL_UID, MAIL_GID);
}
const chain = (pop3dOptions: string[]) => [POPPIN, "popup", "mail.example", POPPIN, "checkpassword", POPPIN, "pop3d", ...pop3dOptions, "mbox:"];
const servers: Running[] = [];
afterAll(async () => {
  for (const s of servers) if (s.proc.exitCode === null) await s.stop();
});

async function serve(extra: string[], env: Record<string, string> = {}): Promise<Running> {
  const s = await startServer([POPPIN, "serve", ...extra, "-R", "-H", "-1", "127.0.0.1", "0", ...chain([`--spool-dir=${spoolDir}`])],
    { POPPIN_USERDB: setup.userdb, POPPIN_STOP_SECONDS: "0", ...env });
  servers.push(s);
  return s;
}

const SESSION = "USER joe\r\nPASS secret\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nTOP 2 0\r\nDELE 2\r\nQUIT\r\n";

test("the same bytes and the same spool as the classic chain: --inline -u (virtual users) and --inline as root", async () => {
  const drop = ["-u", String(MAIL_UID), "-g", String(MAIL_GID)];
  fillSpool();
  const classic = await serve(drop);
  const expected = await talk(classic.port, SESSION);
  expect(expected.toString("latin1")).toMatch(/\+OK 2 \d+\r\n/);
  expect(expected.toString("latin1")).toContain("first\r\n>From quoted\r\n");
  const spoolAfter = readFileSync(spool, "latin1");
  expect(spoolAfter).not.toContain("second");
  for (const extra of [["--inline", ...drop], ["--inline"]]) {
    fillSpool();
    const s = await serve(extra);
    const got = await talk(s.port, SESSION);
    expect(withoutTimestamp(got)).toBe(withoutTimestamp(expected));
    expect(readFileSync(spool, "latin1")).toBe(spoolAfter);
    for (let i = 0; i < 40 && !/end=quit/.test(s.log()); i++) await Bun.sleep(50);
    const endLine = (log: string) => log.split("\n").find((l) => l.startsWith("poppin pop3d: info: end="));
    expect(endLine(s.log())).toMatch(/^poppin pop3d: info: end=quit user=joe rip=127\.0\.0\.1 messages=2 retrieved=\d+ octets=\d+ deleted=1$/);
    expect(endLine(s.log())).toBe(endLine(classic.log()));
  }
});

test("a bad mbox option, or an mbox option with a Maildir, is refused at start with the reason", () => {
  // The start-up check of the chain's configuration (mod/serve/chain_check.ts): exit 111, as every configuration error.
  const bad = run([POPPIN, "serve", "--inline", "127.0.0.1", "0", ...chain(["--lock=nonsense"])], { timeoutMs: 10_000 });
  expect(bad.code).toBe(111);
  expect(bad.stderr).toBe("poppin serve: fatal: poppin pop3d: pop3d option --lock=nonsense is not a usable mbox option\n");
  const maildir = run([POPPIN, "serve", "--inline", "127.0.0.1", "0", POPPIN, "popup", "h", POPPIN, "checkpassword", POPPIN, "pop3d", `--spool-dir=${spoolDir}`, "Maildir"], { timeoutMs: 10_000 });
  expect(maildir.code).toBe(111);
  expect(maildir.stderr).toBe(`poppin serve: fatal: poppin pop3d: pop3d option --spool-dir=${spoolDir} is not valid for a Maildir\n`);
});

test("over TLS (--tls -u): the same session, relayed by serve to pop3d's process", async () => {
  const cert = makeCertificate();
  fillSpool();
  const s = await serve(["--inline", "--tls", "-u", String(MAIL_UID), "-g", String(MAIL_GID)], { CERTFILE: cert.cert, KEYFILE: cert.key });
  const got = await new Promise<string>((resolve) => {
    let text = "";
    const sock = tls.connect({ host: "127.0.0.1", port: s.port, rejectUnauthorized: false }, () => sock.write(SESSION));
    sock.on("data", (c: Buffer) => (text += c.toString("latin1")));
    sock.on("error", () => resolve(text));
    sock.on("close", () => resolve(text));
  });
  expect(got).toMatch(/^\+OK \r\n\+OK \r\n\+OK \r\n\+OK 2 \d+\r\n/);
  expect(got).toContain("first\r\n>From quoted\r\n.\r\n");
  expect(got.endsWith("+OK \r\n")).toBe(true);
  expect(readFileSync(spool, "latin1")).not.toContain("second");
});
