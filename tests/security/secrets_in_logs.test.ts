/**
 * No password ever reaches a log: a representative set of sessions (right and wrong
 * passwords, USER/PASS, APOP, AUTH PLAIN, malformed input, passwords with spaces and
 * 8-bit octets, the classic chain and popup's own one-process chain) behind serve -v, plus
 * checkpassword and users on their own, and every line they wrote to stderr is scanned for
 * each password in clear, in base64 (AUTH PLAIN) and hex.
 */
import { afterAll, expect, test } from "bun:test";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { applet, run, tempDir } from "../helpers.ts";
import { startChain, type Service } from "../integration/service.ts";
import { connectConversation } from "../pop3/conversation.ts";

const GOOD = "Corr3ct-Horse-9f2a";
const WRONG = "Wr0ng-Battery-71cd";
const SPACED = "with inner  spaces é";
const ALL = [GOOD, WRONG, SPACED];

const services: Service[] = [];
afterAll(async () => {
  for (const s of services) await s.stop();
});

function forms(secret: string): string[] {
  const b = Buffer.from(secret, "utf8");
  return [secret, b.toString("latin1"), b.toString("base64"), b.toString("hex"),
    Buffer.from(`\0fz\0${secret}`).toString("base64"), Buffer.from(`fz\0fz\0${secret}`).toString("base64")];
}

/** One session: the lines are sent one at a time, each answer awaited (bounded). */
async function session(port: number, lines: string[]): Promise<string> {
  const { talk, socket } = await connectConversation(port);
  try {
    await talk.waitFor(/^\+OK[^\n]*\n/, 10_000);
    for (let i = 0; i < lines.length; i++) {
      talk.send(Buffer.from(`${lines[i]}\r\n`, "utf8"));
      // Each command gets one first line ("+ " for an AUTH challenge); multi-line answers end with ".".
      await talk.waitFor(/^[+-][^\n]*\n/m, 15_000, i + 2).catch(() => undefined);
    }
    return talk.text;
  } finally {
    socket.destroy();
  }
}

test("no password, in clear, base64 or hex, in any log line of a representative set of sessions", async () => {
  const root = tempDir("secrets");
  chmodSync(root, 0o755);
  const home = join(root, "home");
  mkdirSync(home);
  const uid = process.getuid!() === 0 ? 34567 : process.getuid!();
  const users = join(root, "users");
  const logs: string[] = [];
  const add = run([applet("users"), "-f", users, "add", "--sha512", "fz", String(uid), String(uid), home], { stdin: `${GOOD}\n` });
  const add2 = run([applet("users"), "-f", users, "add", "--sha512", "sp", String(uid), String(uid), home], { stdin: `${SPACED}\n` });
  const passwd = run([applet("users"), "-f", users, "passwd", "sp"], { stdin: `${WRONG}\n${WRONG}\n` });
  logs.push(add.stderr, add2.stderr, passwd.stderr);
  expect(add.code).toBe(0);
  run([applet("maildirmake"), join(home, "Maildir")]);
  writeFileSync(join(home, "Maildir", "new", "1700000000.M1P1.host"), "Subject: hi\n\nbody\n");
  if (process.getuid!() === 0) run(["chown", "-R", `${uid}:${uid}`, home]);

  // No failure delay (the test would wait), and every optional log line on.
  const config = join(root, "poppin.conf");
  writeFileSync(config, "set auth-failure-delay = 0\nset statistics\nset log-login = \"login %0 from %2\"\n");
  for (const onePprocess of ["0", "1"]) {
    const env = { POPPIN_USERDB: `${users}.cdb`, POPPIN_ONE_PROCESS: onePprocess, POPPIN_CONFIG: config };
    const service = await startChain({ server: "poppin", cwd: home, env });
    services.push(service);
    const transcripts = [
      await session(service.port, ["USER fz", `PASS ${GOOD}`, "STAT", "QUIT"]),
      await session(service.port, ["USER fz", `PASS ${WRONG}`, "USER nosuch", `PASS ${GOOD}`, "QUIT"]),
      await session(service.port, ["USER sp", `PASS ${SPACED}`, "QUIT"]),
      await session(service.port, [`APOP fz ${"0".repeat(32)}`, `USER fz`, `PASS ${WRONG} ${GOOD}`, "QUIT"]),
      await session(service.port, ["AUTH PLAIN", Buffer.from(`\0fz\0${WRONG}`).toString("base64"), `AUTH PLAIN ${Buffer.from(`fz\0fz\0${GOOD}`).toString("base64")}`, "QUIT"]),
      await session(service.port, [`PASS ${GOOD}`, "XYZZY", `PASS ${WRONG}`]),
    ];
    // The sessions did run: a good login reached TRANSACTION, a wrong one was refused.
    expect(transcripts[0]).toMatch(/\+OK 1 \d+\r\n/);
    expect(transcripts[1]).toContain("-ERR");
    await service.stop();
    logs.push(service.log());
  }
  // checkpassword alone: wrong password, malformed data, unreadable database.
  for (const data of [`fz\0${WRONG}\0`, `fz\0${GOOD}`, `${GOOD}\0`]) {
    const file = join(root, "fd3");
    writeFileSync(file, data);
    for (const db of [`${users}.cdb`, join(root, "missing.cdb")]) {
      const r = Bun.spawnSync(["sh", "-c", `"$C" true 3< "$F"`], { env: { C: applet("checkpassword"), F: file, POPPIN_USERDB: db, PATH: "/usr/bin:/bin" }, timeout: 10_000 });
      logs.push(r.stderr.toString());
    }
  }
  const all = logs.join("\n");
  if (process.env.SECRETS_DUMP) writeFileSync(process.env.SECRETS_DUMP, all);
  // Not vacuous: the log has the connections and the failed logins in it.
  expect(all).toContain("tcpserver: ok");
  expect(all).toMatch(/authorization failed|authentication failed|auth/i);
  for (const secret of ALL) {
    for (const form of forms(secret)) {
      const found = all.split("\n").filter((line) => line.includes(form));
      expect({ form, found }).toEqual({ form, found: [] });
    }
  }
}, 90_000);
