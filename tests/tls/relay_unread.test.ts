/**
 * The relay between popup's TLS session and the checkpassword chain (mod/tls/relay.ts) keeps
 * what it gave a program that has not answered yet, to give it back when the login is refused.
 * A client that pipelines more than that keeps (256 KiB) after its PASS: every byte comes back
 * to popup in order (the rest waits, the client paused, as it waits in the socket without TLS),
 * and a program that answers first still gets all of it.
 */
import { afterAll, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import tls from "node:tls";
import { relayChild } from "../../mod/tls/relay.ts";
import { makeCertificate } from "./harness.ts";

const cert = makeCertificate();
const opened: tls.TLSSocket[] = [];
afterAll(() => { for (const s of opened) s.destroy(); });

function commands(count: number): Buffer {
  let s = "";
  for (let i = 0; i < count; i++) s += `NOOP ${String(i).padStart(8, "0")}\r\n`;
  return Buffer.from(s);
}

/** A TLS connection whose client writes `payload` (then half-closes when `end`); the server side, paused. */
async function connection(payload: Buffer, end: boolean): Promise<tls.TLSSocket> {
  return new Promise((resolve) => {
    const server = tls.createServer({ cert: readFileSync(cert.cert), key: readFileSync(cert.key), allowHalfOpen: true }, (s) => {
      s.pause();
      opened.push(s);
      server.close();
      resolve(s);
    });
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      const c = tls.connect({ port, host: "127.0.0.1", rejectUnauthorized: false }, () => {
        if (end) c.end(payload);
        else c.write(payload);
      });
      c.on("error", () => {});
      c.on("data", () => {});
      opened.push(c);
    });
  });
}

/** Everything the socket delivers from now until it has given `octets` octets (or ended). */
function readOn(sock: tls.TLSSocket, octets: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const got: Buffer[] = [];
    let n = 0;
    const done = () => resolve(Buffer.concat(got));
    sock.on("data", (d: Buffer) => {
      got.push(Buffer.from(d));
      n += d.length;
      if (n >= octets) done();
    });
    sock.on("end", done);
    sock.resume();
  });
}

test("a refused login with 6 MB pipelined after it: the bytes given back and the ones that follow are the client's, in order, none lost", async () => {
  const payload = commands(400_000);
  const first = payload.subarray(0, 30); // what popup had read past the PASS line
  const sock = await connection(payload.subarray(30), false);
  const child = spawn("sh", ["-c", "sleep 1; exit 1"], { stdio: ["pipe", "pipe", "ignore"] }); // refuses, reads nothing
  const end = await relayChild(sock, child, first, { keepUnanswered: true });
  expect(end.code).toBe(1);
  expect(end.unread).toBeDefined();
  // The relay's own 256 KiB and what the runtime decrypted before the client was paused; not the burst.
  expect(end.unread!.length).toBeLessThanOrEqual(1024 * 1024);
  const rest = await readOn(sock, payload.length - end.unread!.length);
  const conversation = Buffer.concat([end.unread!, rest]);
  expect(conversation.length).toBe(payload.length);
  expect(conversation.equals(payload)).toBe(true);
});

test("a program that answers before reading gets every byte the client pipelined, beyond what is kept", async () => {
  const payload = commands(100_000);
  const sock = await connection(payload, true);
  const child = spawn("sh", ["-c", "printf '+OK \\r\\n'; sleep 0.3; wc -c >&2"], { stdio: ["pipe", "pipe", "pipe"] });
  let counted = "";
  child.stderr!.on("data", (d: Buffer) => { counted += d.toString(); });
  const end = await relayChild(sock, child, new Uint8Array(0), { keepUnanswered: true });
  expect(end.code).toBe(0);
  expect(end.unread).toBeUndefined();
  expect(Number(counted.trim())).toBe(payload.length);
});
