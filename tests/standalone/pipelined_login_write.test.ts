/**
 * A client that sends its whole login before the greeting (a proxy tier logging in at a
 * backend: PROXY header, USER and PASS in one write) gets the greeting and the answers to
 * USER and PASS in one write from serve --inline, not one write (and one wake-up of the
 * client) per answer. The connection is made and the login sent while serve is stopped
 * (SIGSTOP), so the login is in the kernel before serve sees the connection.
 */
import { afterAll, expect, test } from "bun:test";
import net from "node:net";
import { POPPIN } from "../helpers.ts";
import { MAIL_GID, MAIL_UID, startServer, virtualSetup, type Running } from "./harness.ts";

const setup = virtualSetup(["Subject: one\n\nhello\n"]);
const chain = [POPPIN, "popup", "mail.example", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"];
const servers: Running[] = [];

afterAll(async () => {
  for (const s of servers) if (s.proc.exitCode === null) await s.stop();
});

/** The chunks the client received, each as one string; the login sent while the server was stopped. */
async function chunksOfPipelinedLogin(server: Running, login: string): Promise<string[]> {
  const chunks: string[] = [];
  process.kill(server.proc.pid, "SIGSTOP");
  let sock: net.Socket;
  try {
    sock = net.connect(server.port, "127.0.0.1");
    await new Promise<void>((resolve, reject) => {
      sock.once("connect", resolve);
      sock.once("error", reject);
    });
    sock.on("data", (d: Buffer) => chunks.push(d.toString("latin1")));
    await new Promise<void>((resolve) => sock.write(login, () => resolve()));
    await Bun.sleep(100); // the login reaches the server's receive buffer
  } finally {
    process.kill(server.proc.pid, "SIGCONT");
  }
  const ended = new Promise<void>((resolve) => sock.once("close", () => resolve()));
  await Promise.race([ended, Bun.sleep(10_000)]);
  sock.destroy();
  return chunks;
}

test("serve --inline answers a login sent before the greeting with greeting, USER and PASS answers in one write", async () => {
  const server = await startServer([POPPIN, "serve", "--inline", "-v", "-R", "-H", "-1", "-u", String(MAIL_UID), "-g", String(MAIL_GID), "127.0.0.1", "0", ...chain],
    { POPPIN_USERDB: setup.userdb });
  servers.push(server);
  const chunks = await chunksOfPipelinedLogin(server, "USER joe\r\nPASS secret\r\nSTAT\r\nQUIT\r\n");
  const all = chunks.join("");
  expect(all).toMatch(/^\+OK [^\r\n]*\r\n\+OK \r\n\+OK \r\n\+OK 1 \d+\r\n\+OK \r\n$/);
  // The first write carries the greeting and the answers to USER and PASS (STAT's may follow in it).
  expect(chunks[0]!.split("\r\n").length - 1).toBeGreaterThanOrEqual(3);
});

test("a wrong password sent before the greeting is answered in order, after the greeting", async () => {
  const server = await startServer([POPPIN, "serve", "--inline", "-v", "-R", "-H", "-1", "-u", String(MAIL_UID), "-g", String(MAIL_GID), "127.0.0.1", "0", ...chain],
    { POPPIN_USERDB: setup.userdb, POPPIN_FAILURE_DELAY: "0" });
  servers.push(server);
  const chunks = await chunksOfPipelinedLogin(server, "USER joe\r\nPASS wrong\r\nQUIT\r\n");
  expect(chunks.join("")).toMatch(/^\+OK [^\r\n]*\r\n\+OK \r\n-ERR \[AUTH\][^\r\n]*\r\n\+OK[^\r\n]*\r\n$/);
});

test("a piece of a line sent before the greeting (no LF yet) does not hold the greeting back", async () => {
  const server = await startServer([POPPIN, "serve", "--inline", "-v", "-R", "-H", "-1", "-u", String(MAIL_UID), "-g", String(MAIL_GID), "127.0.0.1", "0", ...chain],
    { POPPIN_USERDB: setup.userdb });
  servers.push(server);
  process.kill(server.proc.pid, "SIGSTOP");
  const sock = net.connect(server.port, "127.0.0.1");
  const received: string[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once("connect", resolve);
      sock.once("error", reject);
    });
    sock.on("data", (d: Buffer) => received.push(d.toString("latin1")));
    await new Promise<void>((resolve) => sock.write("USER jo", () => resolve()));
    await Bun.sleep(100);
  } finally {
    process.kill(server.proc.pid, "SIGCONT");
  }
  const deadline = Date.now() + 5000;
  while (received.length === 0 && Date.now() < deadline) await Bun.sleep(20);
  expect(received.join("")).toMatch(/^\+OK [^\r\n]*\r\n$/);
  // The rest of the line completes the command as usual.
  sock.write("e\r\nQUIT\r\n");
  await Promise.race([new Promise((resolve) => sock.once("close", resolve)), Bun.sleep(5000)]);
  sock.destroy();
  expect(received.join("")).toMatch(/^\+OK [^\r\n]*\r\n\+OK \r\n\+OK[^\r\n]*\r\n$/);
});
