/**
 * The classic chain made lighter: with poppin's own checkpassword and pop3d, popup
 * checks the password and serves the Maildir itself (one process per session after
 * login, no extra runtime start); with a foreign program in the chain, the chain runs
 * as before. Both answer the same bytes. Behind Debian's tcpserver.
 */
import { afterAll, expect, test } from "bun:test";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import net from "node:net";
import { POPPIN, requireTool, startPortServer, type PortServer } from "../helpers.ts";
import { MAIL_UID, virtualSetup, withoutTimestamp } from "./harness.ts";

const TCPSERVER = requireTool("tcpserver");
const setup = virtualSetup(["Subject: one\n\nhello\n", "Subject: two\n\n.dot\nend"]);
// A foreign checkpassword: a shell script around ours (as a site wrapper would be).
const wrapper = join(setup.root, "site-checkpassword");
writeFileSync(wrapper, `#!/bin/sh\nexec ${POPPIN} checkpassword "$@"\n`);
chmodSync(wrapper, 0o755);

const started: PortServer[] = [];
afterAll(async () => {
  for (const p of started) await p.stop();
});

/** Debian's tcpserver on a port the kernel picks (-1 prints it), so no other server can hold it. */
async function chain(checkpassword: string[]): Promise<{ port: number; pid: number }> {
  const server = await startPortServer([TCPSERVER, "-1", "-R", "-H", "-u", String(MAIL_UID), "-g", String(MAIL_UID), "127.0.0.1", "0",
    POPPIN, "popup", "mail.example", ...checkpassword, POPPIN, "pop3d", "Maildir"], {
    env: { PATH: "/usr/bin:/bin", POPPIN_USERDB: setup.userdb },
  });
  started.push(server);
  return { port: server.port, pid: server.proc.pid };
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Logs in, counts the processes serving the session, then finishes it; returns the transcript. */
async function session(port: number, server: number): Promise<{ transcript: string; processes: number }> {
  const sock = net.connect({ host: "127.0.0.1", port });
  const chunks: Buffer[] = [];
  sock.on("data", (c: Buffer) => chunks.push(c));
  const waitFor = async (done: (text: string) => boolean) => {
    for (let i = 0; i < 500 && !done(Buffer.concat(chunks).toString("latin1")); i++) await Bun.sleep(20);
  };
  await waitFor((text) => text.endsWith("\r\n"));
  sock.write("USER joe\r\nPASS secret\r\nSTAT\r\n");
  await waitFor((text) => /\+OK 2 \d+\r\n$/.test(text));
  let processes = 0;
  const queue = [...childrenOf(server)];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    processes++;
    queue.push(...childrenOf(pid));
  }
  const closed = new Promise((resolve) => sock.on("close", resolve));
  sock.write("UIDL\r\nRETR 1\r\nRETR 2\r\nQUIT\r\n");
  await Promise.race([closed, Bun.sleep(5000)]);
  return { transcript: withoutTimestamp(Buffer.concat(chunks)), processes };
}

test("poppin's own chain: one process per session after login; a foreign checkpassword: the chain as before; the same bytes", async () => {
  const own = await chain([POPPIN, "checkpassword"]);
  const foreign = await chain([wrapper]);
  const a = await session(own.port, own.pid);
  const b = await session(foreign.port, foreign.pid);
  expect(a.transcript).toMatch(/^\+OK \r\n\+OK \r\n\+OK \r\n\+OK 2 \d+\r\n/);
  expect(a.transcript).toContain("\r\n..dot\r\nend\r\n.\r\n+OK \r\n");
  expect(b.transcript).toBe(a.transcript);
  expect(a.processes).toBe(1);
  expect(b.processes).toBe(2); // popup waiting for its chain, and pop3d (checkpassword exec'd into it)
});
