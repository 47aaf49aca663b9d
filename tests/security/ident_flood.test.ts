/**
 * serve asks the client's identd for TCPREMOTEINFO (-r, tcpserver's default) in the process
 * that accepts every connection (in both modes: the classic chain and --inline). The client
 * runs that identd: one that answers with an endless stream of octets and no newline (or
 * never its three colons) was read for the whole -t, at full speed, in that shared process:
 * a few such clients kept serve on a core and every other client waited behind them. tcpserver
 * reads the same answer in a child of its own per connection, so there it costs only that child.
 * Now an answer not complete within IDENT_REPLY_MAX octets is given up at once (TCPREMOTEINFO
 * unset, as after a timeout).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import net from "node:net";
import { POPPIN } from "../helpers.ts";
import { MAIL_GID, MAIL_UID, startServer, virtualSetup, type Running } from "../standalone/harness.ts";

/** The hostile client's address: its identd listens on port 113 there. */
const CLIENT_IP = "127.0.0.23";
const CONNECTIONS = 4;

const servers: Running[] = [];
let identd: ReturnType<typeof Bun.spawn> | undefined;
afterAll(async () => {
  for (const s of servers) await s.stop();
  identd?.kill();
});

/** An identd that answers every query with octets and no newline until its peer goes away. */
async function floodingIdentd(): Promise<void> {
  identd = Bun.spawn(["python3", "-c", `
import socket, sys, threading
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((${JSON.stringify(CLIENT_IP)}, 113)); srv.listen(64)
print("ready", flush=True)
chunk = b"x" * 65536
def flood(c):
    try:
        while True: c.sendall(chunk)
    except OSError: pass
while True:
    c, _ = srv.accept(); threading.Thread(target=flood, args=(c,), daemon=True).start()
`], { stdout: "pipe", stderr: "inherit" });
  const reader = (identd.stdout as ReadableStream<Uint8Array>).getReader();
  const first = await reader.read();
  reader.releaseLock();
  expect(Buffer.from(first.value ?? new Uint8Array(0)).toString()).toStartWith("ready");
}

/** CPU time of `pid` so far, in clock ticks (user + system). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** Connects from CLIENT_IP and returns the first octets the server sends (its program's output, or the greeting). */
function firstWords(port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: "127.0.0.1", port, localAddress: CLIENT_IP });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`nothing from the server in ${timeoutMs} ms (it is still reading the client's identd)`));
    }, timeoutMs);
    sock.once("data", (chunk) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(chunk.toString("latin1"));
    });
    sock.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

const setup = virtualSetup(["Subject: one\n\nhello\n"]);
const CHAIN = [POPPIN, "popup", "mail.example", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"];

describe.each([
  { name: "serve (classic chain)", flags: [] as string[], program: ["sh", "-c", 'echo "[${TCPREMOTEINFO-unset}]"'], expected: "[unset]\n" },
  { name: "serve --inline", flags: ["--inline", "-u", String(MAIL_UID), "-g", String(MAIL_GID)], program: CHAIN, expected: "+OK" },
])("$name", ({ flags, program, expected }) => {
  test("an identd that streams an endless answer is given up at once: the connection is served, serve stays idle", async () => {
    if (identd === undefined) await floodingIdentd();
    // -t 60: the old reader held each query for the whole minute, beyond this test's timeouts.
    const s = await startServer([POPPIN, "serve", ...flags, "-v", "-H", "-t", "60", "-1", "127.0.0.1", "0", ...program], { POPPIN_USERDB: setup.userdb });
    servers.push(s);
    const before = cpuTicks(s.proc.pid);
    const answers = await Promise.all(Array.from({ length: CONNECTIONS }, () => firstWords(s.port, 20_000)));
    for (const answer of answers) expect(answer).toStartWith(expected);
    // Reading the floods to -t cost a core per flood (about 100 ticks a second each); given up
    // after 1 KiB, they cost next to nothing.
    const spent = cpuTicks(s.proc.pid) - before;
    console.log(`serve spent ${spent} clock ticks serving ${CONNECTIONS} clients whose identd floods`);
    expect(spent).toBeLessThan(100);
    // The log's ok lines have no remote info (the field between the address and the port is empty).
    expect(s.log()).toContain(`:${CLIENT_IP}::`);
  }, 30_000);
});
