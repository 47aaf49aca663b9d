/**
 * A service started with securebits that keep capabilities across the uid switch (systemd's
 * SecureBits=no-setuid-fixup, a container runtime's): setresuid from root to the user then
 * leaves CapEff and CapPrm full. The attack: a local user makes ~/Maildir a symbolic link to
 * another user's Maildir (0700, not theirs) and logs in. A process that became the user in
 * place (popup serving in one process, serve --inline's mail workers and pop3d processes)
 * would read the other user's mail with CAP_DAC_OVERRIDE. Every switch from root checks that
 * no capability is left (sys/switch_ids.ts) and stops there: the session gets -ERR, the log
 * says why, and nothing of the other mailbox is sent.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, readdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, applet, requireTool, run } from "../helpers.ts";
import { makeMaildir } from "../pop3/conversation.ts";
import { startServer, talk, type Running } from "../standalone/harness.ts";
import { highAccount, removeHighAccounts } from "../sys/high_account.ts";

const servers: Running[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop(2_000)));
  removeHighAccounts();
});

const SECRET = "victim-only-4f1c";
const CHAIN = [POPPIN, "popup", "mail.example", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"];
const KEEP_CAPS = ["setpriv", "--securebits", "+no_setuid_fixup"];

const victim = highAccount("capv");
makeMaildir(victim.home, [`Subject: private\n\n${SECRET}\n`]);
const chownTree = (path: string) => {
  chownSync(path, victim.uid, victim.gid);
  if (!path.endsWith(".example")) for (const name of readdirSync(path)) chownTree(join(path, name));
};
chownTree(join(victim.home, "Maildir"));
chmodSync(join(victim.home, "Maildir"), 0o700);
const attacker = highAccount("capa");
symlinkSync(join(victim.home, "Maildir"), join(attacker.home, "Maildir"));

/** `logins` times USER and PASS on one connection (a login refused after a switch that went wrong leaves the client in AUTHORIZATION), then STAT and RETR 1. */
async function attack(wrap: readonly string[], flags: readonly string[], env: Record<string, string>, logins = 1): Promise<{ out: string; log: string }> {
  // No failed-login delay: the refusals are what is looked at, not their timing.
  const s = await startServer([...wrap, POPPIN, "serve", ...flags, "-v", "-R", "-H", "-1", "127.0.0.1", "0", ...CHAIN], { POPPIN_AUTH_FAILURE_DELAY: "0", ...env });
  servers.push(s);
  const login = `USER ${attacker.name}\r\nPASS ${attacker.password}\r\n`;
  const out = (await talk(s.port, `${login.repeat(logins)}STAT\r\nRETR 1\r\nQUIT\r\n`)).toString("latin1");
  await Bun.sleep(200);
  return { out, log: s.log() };
}

describe.each<{ host: string; flags: string[]; env: Record<string, string> }>([
  { host: "serve, popup serving in one process", flags: [], env: {} },
  { host: "serve, checkpassword and pop3d processes", flags: [], env: { POPPIN_ONE_PROCESS: "0" } },
  { host: "serve --inline, a pop3d process per session (POPPIN_BECOME)", flags: ["--inline"], env: { POPPIN_MAIL_WORKERS: "0" } },
  { host: "serve --inline, mail workers", flags: ["--inline"], env: {} },
])("$host", ({ flags, env }) => {
  test("a user's Maildir linked to another user's: without kept capabilities, not served", async () => {
    const { out } = await attack([], flags, env);
    expect(out).not.toContain(SECRET);
    expect(out).toContain("-ERR");
  });

  test("started with securebits no_setuid_fixup: the switch is refused, the other user's mail never sent", async () => {
    const { out, log } = await attack(KEEP_CAPS, flags, env);
    expect(out).not.toContain(SECRET);
    expect(out).not.toContain("+OK 1 ");
    expect(out).toContain("-ERR");
    expect(log).toMatch(/kept(%20| )capabilities/);
  });

  test("started with securebits no_setuid_fixup, logging in again on the same connection: still refused, never served", async () => {
    const { out } = await attack(KEEP_CAPS, flags, env, 2);
    expect(out).not.toContain(SECRET);
    expect(out).not.toContain("+OK 1 ");
  });
});

describe("setuidgid run by a service account holding ambient CAP_SETUID and CAP_SETGID (systemd's AmbientCapabilities=)", () => {
  const AMBIENT = ["setpriv", "--reuid=2", "--regid=2", "--clear-groups", "--inh-caps=+setuid,+setgid", "--ambient-caps=+setuid,+setgid"];
  const PROBE = ["sh", "-c", "id -u; grep -E '^Cap(Eff|Prm|Amb)' /proc/self/status"];

  test("the switch between two non-root uids keeps them: refused with the reason, the program never runs (daemontools' setuidgid runs it holding them)", () => {
    const ours = run([...AMBIENT, applet("setuidgid"), "nobody", ...PROBE], { env: { PATH: "/usr/bin:/bin" } });
    expect(ours.code).toBe(111);
    expect(ours.out).toBe("");
    expect(ours.stderr).toMatch(/^setuidgid: fatal: unable to setuid: thread \d+ kept capabilities after the uid switch \(CapEff 0+c0, CapPrm 0+c0, CapAmb 0+c0\): a process acting as a user may hold none/);
    // What the original does: nobody, with CAP_SETUID and CAP_SETGID it could become root with.
    const debian = run([...AMBIENT, requireTool("setuidgid"), "nobody", ...PROBE], { env: { PATH: "/usr/bin:/bin" } });
    expect(debian.out).toMatch(/^65534\nCapPrm:\s+0+c0\nCapEff:\s+0+c0\nCapAmb:\s+0+c0\n$/);
  });
});
