/**
 * The classic chain under serve -u: popup (clear-text passwords, the STLS key) and
 * checkpassword (the password on fd 3) run with serve's uid, which other processes may
 * share (nobody here). Started by exec, they were dumpable: a process of that uid could
 * ptrace them or read their memory. They make themselves non-dumpable first thing.
 */
import { afterAll, expect, test } from "bun:test";
import { readFileSync, readdirSync } from "node:fs";
import net from "node:net";
import { POPPIN, startPortServer, type PortServer } from "../helpers.ts";
import { makeCertificate } from "../tls/harness.ts";
import { MAIL_GID, MAIL_UID, virtualSetup } from "../standalone/harness.ts";
import { asNobody } from "./as_nobody.ts";

const setup = virtualSetup(["Subject: x\n\nx\n"]);
const servers: PortServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
});


const refused = "mem:Permission denied environ:Permission denied ptrace:Operation not permitted";

test("serve -u nobody: popup, waiting for a password (with an STLS key), is unreadable by another process of nobody", async () => {
  const cert = makeCertificate();
  const s = await startPortServer([POPPIN, "serve", "-R", "-H", "-1", "-u", String(MAIL_UID), "-g", String(MAIL_GID), "127.0.0.1", "0",
    POPPIN, "popup", "mail.example", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"],
    { env: { PATH: "/usr/bin:/bin", POPPIN_USERDB: setup.userdb, CERTFILE: cert.cert, KEYFILE: cert.key, POPPIN_STOP_SECONDS: "0" } });
  servers.push(s);
  const sock = net.connect({ host: "127.0.0.1", port: s.port });
  await new Promise((r) => sock.once("data", r));
  sock.write("USER joe\r\n");
  await new Promise((r) => sock.once("data", r));
  const popup = readdirSync("/proc").filter((n) => /^\d+$/.test(n)).map(Number).filter((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
      return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === s.proc.pid && readFileSync(`/proc/${pid}/cmdline`, "latin1").includes("popup");
    } catch {
      return false;
    }
  });
  expect(popup).toHaveLength(1);
  expect(await asNobody(popup[0]!)).toBe(refused);
  sock.destroy();
});

test("checkpassword run with nobody's uid, reading a password on fd 3, is unreadable by another process of nobody", async () => {
  const proc = Bun.spawn([POPPIN, "checkpassword", "true"], {
    uid: MAIL_UID, gid: MAIL_GID, cwd: "/", env: { PATH: "/usr/bin:/bin", POPPIN_USERDB: setup.userdb },
    stdio: ["ignore", "ignore", "inherit", "pipe"],
  });
  await Bun.sleep(300); // it waits on fd 3, which stays open
  try {
    expect(await asNobody(proc.pid)).toBe(refused);
  } finally {
    proc.kill();
  }
});
