/**
 * The default clear-text-password policy, as Dovecot's disable_plaintext_auth: with a
 * certificate configured, USER/PASS and AUTH PLAIN on an unencrypted connection from
 * another host are refused (and not in CAPA) until STLS; loopback stays allowed; without
 * a certificate nothing changes; clear-text-password=always restores the old behaviour.
 * Both hosts (the classic chain and serve --inline); the remote address comes from a
 * PROXY header sent over loopback.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chownSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
import { applet, startPortServer, type PortServer } from "../helpers.ts";
import { talk } from "../standalone/harness.ts";
import { PASSWORD, USER, makeBox, makeCertificate, tlsConversation, type Box, type Certificate } from "../tls/harness.ts";

const REFUSAL = "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections: use STLS\r\n";
const b64 = (s: string) => Buffer.from(s, "latin1").toString("base64");
const proxyFrom = (ip: string) => `PROXY TCP4 ${ip} 127.0.0.1 40000 110\r\n`;

let box: Box;
let cert: Certificate;
const servers: PortServer[] = [];

beforeAll(() => {
  box = makeBox();
  chownSync(box.userdb, 12345, 12345); // readable by --inline after -u
  cert = makeCertificate();
});
afterAll(async () => {
  for (const s of servers) await s.stop();
});

async function start(mode: readonly string[], popupArgs: string[], withCert: boolean): Promise<number> {
  const program = [applet("qmail-popup"), ...popupArgs, "pop.example.org", applet("checkpassword"), applet("qmail-pop3d"), "Maildir"];
  const s = await startPortServer([applet("tcpserver"), ...mode, "-1", "-HR", "--proxy", "--proxy-from=127.0.0.1", "127.0.0.1", "0", ...program], {
    cwd: box.home,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", POPPIN_USERDB: box.userdb, POPPIN_AUTH_FAILURE_DELAY: "0", ...(withCert ? { CERTFILE: cert.both } : {}) },
  });
  servers.push(s);
  return s.port;
}

const session = async (port: number, from: string, commands: string) => (await talk(port, proxyFrom(from) + commands)).toString("latin1");

// --inline as root hands each login to a process of the user's, which cannot take over a
// TLS session: as in tests/standalone/inline_tls.test.ts it runs as the virtual users' uid.
const INLINE = ["--inline", "-u", "12345", "-g", "12345"];

for (const [name, mode] of [["classic", []], ["inline", INLINE]] as const) {
  describe(`serve ${name}: clear-text passwords with a certificate configured`, () => {
    test("from another host, in clear: USER, PASS and AUTH PLAIN refused with [AUTH] ... use STLS; CAPA offers STLS, neither USER nor SASL PLAIN", async () => {
      const port = await start(mode, [], true);
      const out = await session(port, "192.0.2.7", `CAPA\r\nUSER ${USER}\r\nPASS ${PASSWORD}\r\nAUTH PLAIN ${b64(`\0${USER}\0${PASSWORD}`)}\r\nAUTH\r\nQUIT\r\n`);
      const capa = /\+OK[^\r]*\r\n([\s\S]*?)\r\n\.\r\n/.exec(out.slice(out.indexOf("\r\n") + 2))![1]!.split("\r\n");
      expect(capa).toContain("STLS");
      expect(capa).not.toContain("USER");
      // SASL mechanisms that never send the password (SCRAM) may stay; PLAIN may not.
      expect(capa.filter((l) => l.startsWith("SASL")).some((l) => l.split(" ").includes("PLAIN"))).toBe(false);
      expect(out.split(REFUSAL).length - 1).toBe(3);
      const bareAuth = /\r\n\+OK \r\n((?:[A-Z0-9-]+\r\n)*)\.\r\n/.exec(out);
      expect(bareAuth).not.toBeNull(); // bare AUTH: the mechanisms usable now
      expect(bareAuth![1]!.split("\r\n")).not.toContain("PLAIN");
    });

    test("after STLS the same client logs in with USER/PASS", async () => {
      const port = await start(mode, [], true);
      const sock = net.connect({ host: "127.0.0.1", port });
      let plain = "";
      sock.on("data", (c: Buffer) => { plain += c.toString("latin1"); });
      await new Promise<void>((r) => sock.once("connect", () => r()));
      sock.write(`${proxyFrom("192.0.2.7")}STLS\r\n`);
      const deadline = Date.now() + 10_000;
      while (!/^\+OK[^\r]*\r\n\+OK[^\r]*\r\n/.test(plain) && Date.now() < deadline) await Bun.sleep(20);
      sock.removeAllListeners("data");
      const secure = tls.connect({ socket: sock, rejectUnauthorized: false, servername: "localhost" });
      const conversation = tlsConversation(secure);
      await new Promise<void>((r) => secure.once("secureConnect", () => r()));
      conversation.send(`CAPA\r\nUSER ${USER}\r\nPASS ${PASSWORD}\r\nSTAT\r\nQUIT\r\n`);
      const text = await conversation.waitFor(/\+OK \d+ \d+\r\n/);
      expect(text).toContain("\r\nUSER\r\n");
      expect(text).not.toContain("-ERR");
      secure.destroy();
    });

    test("loopback stays allowed; clear-text-password=always allows every host; no certificate: allowed as before", async () => {
      const login = `USER ${USER}\r\nPASS ${PASSWORD}\r\nSTAT\r\nQUIT\r\n`;
      const withCert = await start(mode, [], true);
      expect(await session(withCert, "127.0.0.1", login)).toMatch(/^\+OK[^\r]*\r\n\+OK[^\r]*\r\n\+OK[^\r]*\r\n\+OK \d+ \d+\r\n/);
      const always = await start(mode, ["--clear-text-password=always"], true);
      const remote = await session(always, "192.0.2.7", `CAPA\r\n${login}`);
      expect(remote).toContain("\r\nUSER\r\n");
      expect(remote).toMatch(/\+OK \d+ \d+\r\n/);
      const noCert = await start(mode, [], false);
      expect(await session(noCert, "192.0.2.7", login)).toMatch(/\+OK \d+ \d+\r\n/);
    });
  });
}
