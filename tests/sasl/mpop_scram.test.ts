/**
 * mpop (Debian's, GNU SASL inside) downloads the mailbox with each SCRAM mechanism, in
 * clear and over STLS and implicit TLS, through the classic chain with a separate
 * checkpassword process (fd 3) and through serve --inline. Every message arrives
 * byte-identical and is then deleted. mpop never picks a -PLUS name, so channel binding
 * over real TLS is played by a Node client computing tls-exporter and tls-server-end-point
 * from its own side of the connection.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { runMpop, type MpopRun } from "./mpop_run.ts";
import { join } from "node:path";
import tls from "node:tls";
import { createHash } from "node:crypto";
import { requireTool, tempDir } from "../helpers.ts";
import { Conversation } from "../pop3/conversation.ts";
import { b64, ScramClient, unb64 } from "./scram_client.ts";
import { PASSWORD, USER, boxCount, canonical, corpus, deliver, emptyBox, exec, makeBox, makeCertificate, startService, type Box, type Certificate, type Service } from "../tls/harness.ts";

let cert: Certificate;
let box: Box;
const services: Record<string, { plain: Service; implicit: Service }> = {};
const expected = () => corpus().map(canonical).sort();

beforeAll(async () => {
  requireTool("mpop");
  cert = makeCertificate("127.0.0.1");
  box = makeBox();
  const uid = process.getuid!() === 0 ? ["-u", "12345", "-g", "12345"] : [];
  if (uid.length > 0) chmodSync(box.userdb, 0o644); // read by the inline server after it dropped to the mail uid
  // Classic, plain port: popup, then a separate checkpassword process reading fd 3 (no
  // one-process shortcut). Behind serve --tls: popup's one-process login (the default).
  const classicEnv = { POPPIN_ONE_PROCESS: "0", POPPIN_LOG_LOGIN: "login %0 mech=%4" };
  services.classic = {
    plain: await startService(box, { env: { ...classicEnv, CERTFILE: cert.cert, KEYFILE: cert.key } }),
    implicit: await startService(box, { tls: true, env: { CERTFILE: cert.both } }),
  };
  services.inline = {
    plain: await startService(box, { serveArgs: ["--inline", ...uid], env: { CERTFILE: cert.cert, KEYFILE: cert.key, POPPIN_LOG_LOGIN: "login %0 mech=%4" } }),
    implicit: await startService(box, { tls: true, serveArgs: ["--inline", ...uid], env: { CERTFILE: cert.both } }),
  };
  // --inline without -u: as root (as CI runs) the login is checked in serve's process and the
  // session handed to a user process.
  services.inlineRoot = { plain: await startService(box, { serveArgs: ["--inline"] }), implicit: undefined as unknown as Service };
});

afterAll(async () => {
  for (const s of Object.values(services)) {
    await s.plain?.stop();
    await s.implicit?.stop();
  }
});

/** Runs mpop once with `auth`, `tls` ("off", "starttls", "implicit"); returns its debug transcript. */
function mpop(port: number, auth: string, tls: "off" | "starttls" | "implicit", password = PASSWORD): Promise<MpopRun> {
  return runMpop({ port, auth, user: USER, password, tls, trustFile: cert.cert });
}

/** The AUTH line mpop sent (mechanism name). */
const authMechanism = (transcript: string) => /AUTH (\S+)/.exec(transcript)?.[1];

for (const host of ["classic", "inline"] as const) {
  describe(`mpop with SCRAM through the ${host} chain`, () => {
    for (const [auth, mech] of [["scram-sha-256", "SCRAM-SHA-256"], ["scram-sha-1", "SCRAM-SHA-1"]] as const) {
      for (const tls of ["off", "starttls", "implicit"] as const) {
        test(`${auth}, TLS ${tls}: every message byte-identical, then deleted`, async () => {
          emptyBox(box);
          deliver(box, corpus());
          const service = tls === "implicit" ? services[host].implicit : services[host].plain;
          const r = await mpop(service.port, auth, tls);
          expect(r.code).toBe(0);
          // mpop asks GNU SASL for exactly the configured mechanism: it never picks the -PLUS
          // variant (and sends the gs2 flag "n", which -PLUS in CAPA must not turn into a refusal).
          expect(authMechanism(r.transcript)).toBe(mech);
          expect(r.messages.sort()).toEqual(expected());
          expect(boxCount(box)).toBe(0);
          // log-login's %4: how the user logged in, carried from popup through checkpassword to pop3d.
          if (tls !== "implicit") expect(service.log()).toContain(`login demo mech=${mech} `);
        });
      }
    }

    test("a wrong password is refused with -ERR [AUTH] and the mail stays", async () => {
      emptyBox(box);
      deliver(box, corpus());
      const r = await mpop(services[host].plain.port, "scram-sha-256", "off", "not the password");
      expect(r.code).not.toBe(0);
      expect(r.transcript).toContain("-ERR [AUTH] authorization failed");
      expect(boxCount(box)).toBe(corpus().length);
      expect(services[host].plain.log()).toMatch(/authorization failed rip=127\.0\.0\.1 user=demo mech=SCRAM-SHA-256/);
      // fail2ban's filter finds the address in SCRAM failure lines too.
      const lines = services[host].plain.log().split("\n").filter((l) => l.includes("authorization failed") && l.includes("mech=SCRAM"));
      const log = join(tempDir("f2b"), "current");
      writeFileSync(log, lines.map((l) => `2026-11-21 10:00:00 ${l}\n`).join(""));
      const f = await exec(["fail2ban-regex", "-o", "ip", log, join(import.meta.dir, "..", "..", "scripts", "fail2ban", "filter.d", "poppin.conf")]);
      expect(f.out.trim().split("\n")).toEqual(lines.map(() => "127.0.0.1"));
    });
  });
}

/** The client's view of the binding data (RFC 9266; RFC 5929 with SHA-256 for an ECDSA-SHA256 certificate). */
function clientBinding(sock: tls.TLSSocket, type: "tls-exporter" | "tls-server-end-point"): Buffer {
  if (type === "tls-exporter") return sock.exportKeyingMaterial(32, "EXPORTER-Channel-Binding", Buffer.alloc(0));
  return createHash("sha256").update(sock.getPeerCertificate().raw).digest();
}

/** Logs in with SCRAM-SHA-256-PLUS over TLS (STLS first when `port` is the plain one); returns the transcript. */
async function plusLogin(port: number, starttls: boolean, type: "tls-exporter" | "tls-server-end-point", tamper = false): Promise<string> {
  const ca = readFileSync(cert.cert);
  let sock: tls.TLSSocket;
  let before = "";
  if (starttls) {
    const net = await import("node:net");
    const raw = net.connect(port, "127.0.0.1");
    const plain = new Conversation((d) => raw.write(d), () => raw.end());
    raw.on("data", (c: Buffer) => plain.received(c));
    await plain.waitFor("\r\n");
    plain.send("STLS\r\n");
    await plain.waitFor("Begin TLS");
    before = plain.text;
    raw.removeAllListeners("data");
    sock = tls.connect({ socket: raw, ca, servername: "localhost", checkServerIdentity: () => undefined });
  } else {
    sock = tls.connect({ port, host: "127.0.0.1", ca, checkServerIdentity: () => undefined });
  }
  await new Promise<void>((resolve, reject) => { sock.once("secureConnect", () => resolve()); sock.once("error", reject); });
  const talk = new Conversation((d) => sock.write(d), () => sock.end());
  sock.on("data", (c: Buffer) => talk.received(c));
  for (const event of ["end", "close", "error"]) sock.on(event, () => talk.ended());
  if (!starttls) await talk.waitFor("\r\n");
  const cb = clientBinding(sock, type);
  if (tamper) cb[0] ^= 1;
  const client = new ScramClient("sha256", USER, PASSWORD, { gs2: `p=${type},,`, cbData: cb });
  talk.send("CAPA\r\n");
  await talk.waitFor(/\r\n\.\r\n/);
  talk.send(`AUTH SCRAM-SHA-256-PLUS ${b64(client.first())}\r\n`);
  const first = await talk.waitFor(/\+ \S+\r\n/);
  const sf = unb64(/\+ (\S+)\r\n/.exec(first)![1]);
  talk.send(`${b64(client.final(sf))}\r\n`);
  await talk.waitFor(/(\+ \S+\r\n[\s\S]*){2}|-ERR/);
  if (!talk.text.includes("-ERR")) {
    expect(talk.text).toContain(`+ ${b64(client.expectedVerifier())}\r\n`);
    talk.send("\r\n");
    await talk.waitFor(/\+OK.*\r\n$/m);
    talk.send("STAT\r\nQUIT\r\n");
    await talk.waitEnd();
  } else {
    talk.send("QUIT\r\n");
    await talk.waitEnd();
  }
  return before + talk.text;
}

describe("SCRAM-SHA-256-PLUS over real TLS (Node client)", () => {
  for (const host of ["classic", "inline"] as const) {
    for (const type of ["tls-exporter", "tls-server-end-point"] as const) {
      test(`${host}: ${type} over STLS and implicit TLS logs in; tampered binding data is refused`, async () => {
        emptyBox(box);
        deliver(box, corpus());
        for (const [port, starttls] of [[services[host].plain.port, true], [services[host].implicit.port, false]] as const) {
          const ok = await plusLogin(port, starttls, type);
          expect(ok).toContain("SASL PLAIN SCRAM-SHA-256-PLUS SCRAM-SHA-256 SCRAM-SHA-1-PLUS SCRAM-SHA-1\r\n");
          expect(ok).toMatch(new RegExp(`\\+OK ${corpus().length} \\d+\\r\\n`));
          const bad = await plusLogin(port, starttls, type, true);
          expect(bad).toContain("-ERR [AUTH] authorization failed\r\n");
        }
      });
    }
  }
});

describe("mpop with SCRAM through --inline as root (a user process per session)", () => {
  test("scram-sha-256 and scram-sha-1 in clear download every message", async () => {
    for (const auth of ["scram-sha-256", "scram-sha-1"]) {
      emptyBox(box);
      deliver(box, corpus());
      const r = await mpop(services.inlineRoot!.plain.port, auth, "off");
      expect(r.code).toBe(0);
      expect(r.messages.sort()).toEqual(expected());
      expect(boxCount(box)).toBe(0);
    }
  });
});
