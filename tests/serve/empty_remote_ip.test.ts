/**
 * TCPREMOTEIP set but empty (tcpserver never sets it so; a rule's `TCPREMOTEIP=""` or a broken
 * wrapper does) counts as unset in every program: popup, checkpassword behind a foreign popup,
 * qmqpd, the proxy (classic and --inline) ask the connection itself, as under inetd, so their
 * log lines and the PROXY header a backend gets name the same client.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import { connect as tlsConnect } from "node:tls";
import { join } from "node:path";
import { applet, run, startPortServer, tempDir, type PortServer } from "../helpers.ts";
import { makeCertificate, type Certificate } from "../tls/harness.ts";
import { foreignPopup } from "./foreign_popup.ts";
import { makeUsers, routesCdb, startBackend, startProxy, talk, waitForLog, type VirtualUsers } from "../proxy/topology.ts";

const PATH = process.env.PATH ?? "/usr/bin:/bin";
const CLIENT = "127.0.0.5";
const UCSPI = /^(PROTO|TCP6?(LOCAL|REMOTE)(IP|PORT))=/;

let dir: string;
let rules: string;
let users: VirtualUsers;
const servers: PortServer[] = [];

/** serve -x RULES (the client's rule empties TCPREMOTEIP, TCPREMOTEPORT and TCPLOCALIP) running `argv`. */
async function serve(argv: string[], env: Record<string, string> = {}, inline = false, flags: string[] = []): Promise<PortServer> {
  const s = await startPortServer([applet("tcpserver"), ...(inline ? ["--inline"] : []), ...flags, "-1", "-HR", "-x", rules, "127.0.0.1", "0", ...argv], { env: { PATH, POPPIN_AUTH_FAILURE_DELAY: "0", ...env } });
  servers.push(s);
  return s;
}

beforeAll(() => {
  dir = tempDir("emptyip");
  chmodSync(dir, 0o755);
  rules = join(dir, "rules.cdb");
  const r = run([applet("tcprules"), rules, join(dir, "rules.tmp")], { stdin: `${CLIENT}:allow,TCPREMOTEIP="",TCPREMOTEPORT="",TCPLOCALIP=""\n:allow\n` });
  if (r.code !== 0) throw new Error(`tcprules: ${r.stderr}`);
  users = makeUsers({ alice: "alice pw" }, () => [Buffer.from("Subject: hi\n\nhello\n")]);
});
afterAll(async () => {
  for (const s of servers) await s.stop();
});

let certificate: Certificate | undefined;
function cert(): Certificate {
  certificate ??= makeCertificate();
  return certificate;
}

/** A TLS conversation from CLIENT: writes `text` once the handshake is done, returns all it got. */
async function talkTls(port: number, text: string): Promise<string> {
  const sock = tlsConnect({ socket: net.connect({ host: "127.0.0.1", port, localAddress: CLIENT }), rejectUnauthorized: false });
  let got = "";
  sock.on("data", (c: Buffer) => (got += c.toString("latin1")));
  sock.on("error", () => {});
  await new Promise<void>((r) => sock.on("secureConnect", () => r()));
  sock.write(text);
  await new Promise<void>((r) => sock.on("close", () => r()));
  return got;
}

/** The UCSPI variables a program wrote with `env > FILE`, sorted, once it has written them. */
async function recordedIn(file: string): Promise<string[]> {
  for (let i = 0; i < 100; i++) {
    try {
      const text = readFileSync(file, "utf8");
      if (text.includes("PATH=")) return text.split("\n").filter((l) => UCSPI.test(l)).sort();
    } catch {}
    await Bun.sleep(50);
  }
  throw new Error(`${file} was not written`);
}

describe("TCPREMOTEIP=\"\" is unset: the connection says who the client is", () => {
  test("popup: its failure line and the chain's environment name the client", async () => {
    const out = join(dir, "popup.env");
    const recorder = join(dir, "record-refuse");
    writeFileSync(recorder, `#!/bin/sh\nenv > ${out}\nexit 1\n`, { mode: 0o755 });
    const s = await serve([applet("qmail-popup"), "pop.example.org", recorder]);
    const answer = await talk(CLIENT, "127.0.0.1", s.port, "USER alice\r\nPASS x\r\nQUIT\r\n");
    expect(answer).toMatch(/-ERR \[AUTH\] authorization failed\r\n\+OK/);
    await waitForLog(s.log, "authorization failed rip=");
    expect(s.log()).toContain(`qmail-popup: warning: authorization failed rip=${CLIENT} user=alice`);
    const seen = await recordedIn(out);
    expect(seen).toContain(`TCPREMOTEIP=${CLIENT}`);
    expect(seen).toContain("TCPLOCALIP=127.0.0.1");
    expect(seen.find((l) => l.startsWith("TCPREMOTEPORT="))).toMatch(/^TCPREMOTEPORT=\d+$/);
  });

  test("checkpassword behind a foreign popup fills the variables for the program it runs", async () => {
    const { popup, record, out } = foreignPopup(dir);
    const s = await serve([popup, applet("checkpassword"), record], { POPPIN_USERDB: users.userdb });
    await talk(CLIENT, "127.0.0.1", s.port, "");
    const seen = await recordedIn(out);
    expect(seen).toContain(`TCPREMOTEIP=${CLIENT}`);
    expect(seen).toContain("TCPLOCALIP=127.0.0.1");
  });

  test("qmqpd names the client in its log line", async () => {
    const s = await serve([applet("qmail-qmqpd")], { POPPIN_USERDB: users.userdb, UID: "65534", GID: "65534" });
    const sock = net.connect({ host: "127.0.0.1", port: s.port, localAddress: CLIENT });
    let answer = "";
    sock.on("data", (c: Buffer) => (answer += c.toString("latin1")));
    sock.on("error", () => {});
    const closed = new Promise<void>((r) => sock.on("close", () => r()));
    await new Promise<void>((r) => sock.on("connect", () => r()));
    sock.end("garbage");
    await closed;
    expect(answer).toContain("Dsorry, that is not a valid QMQP request");
    await waitForLog(s.log, "qmail-qmqpd: warning: refused");
    expect(s.log()).toContain(`qmail-qmqpd: warning: refused: a netstring length is not a number rip=${CLIENT}\n`);
  });

  for (const tls of [false, true]) {
    test(`serve --inline${tls ? " --tls" : ""}: the session's failure line names the client`, async () => {
      const chain = [applet("qmail-popup"), "pop.example.org", applet("checkpassword"), applet("qmail-pop3d"), "Maildir"];
      const env: Record<string, string> = { POPPIN_USERDB: users.userdb };
      if (tls) Object.assign(env, { CERTFILE: cert().cert, KEYFILE: cert().key });
      const s = await serve(chain, env, true, tls ? ["--tls", "-v"] : ["-v"]);
      const answer = tls ? await talkTls(s.port, "USER alice\r\nPASS x\r\nQUIT\r\n") : await talk(CLIENT, "127.0.0.1", s.port, "USER alice\r\nPASS x\r\nQUIT\r\n");
      expect(answer).toMatch(/-ERR \[AUTH\] authorization failed\r\n\+OK/);
      await waitForLog(s.log, "authorization failed");
      expect(s.log()).toContain(`qmail-popup: warning: authorization failed rip=${CLIENT} user=alice`);
    });
  }

  for (const inline of [false, true]) {
    test(`the proxy${inline ? " (--inline)" : ""}: popup, the proxy and the backend (PROXY header) name the same client`, async () => {
      const backend = await startBackend("127.0.0.2", 0, users, { POPPIN_AUTH_FAILURE_DELAY: "0" });
      servers.push(backend);
      const proxy = await startProxy("127.0.0.1", 0, routesCdb(`*:127.0.0.2:${backend.port}\n`), { inline, serveArgs: ["-x", rules], env: { POPPIN_AUTH_FAILURE_DELAY: "0" } });
      servers.push(proxy);
      const answer = await talk(CLIENT, "127.0.0.1", proxy.port, "USER alice\r\nPASS wrong\r\nQUIT\r\n");
      expect(answer).toContain("-ERR [AUTH] authorization failed\r\n");
      await waitForLog(proxy.log, "qmail-popup: warning: authorization failed");
      await waitForLog(backend.log, "qmail-popup: warning: authorization failed");
      expect(proxy.log()).toContain(`qmail-popup: warning: authorization failed rip=${CLIENT} user=alice`);
      expect(proxy.log()).toMatch(new RegExp(`poppin proxy: warning: backend refused the login user=alice rip=${CLIENT.replaceAll(".", "\\.")} `));
      expect(backend.log()).toContain(`qmail-popup: warning: authorization failed rip=${CLIENT} user=alice`);
    });
  }
});
