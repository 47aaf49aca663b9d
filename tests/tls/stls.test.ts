/**
 * STLS (RFC 2595) and implicit TLS behaviour, driven by an in-process TLS client:
 * CAPA before and after, state discarded, second STLS refused, plaintext injected
 * after STLS never executed, the handshake timeout, clients on the wrong port,
 * clear-text-password=tls, SSL_* variables, TLS versions, and SIGHUP reloading.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, readFileSync, renameSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
import { applet, run } from "../helpers.ts";
import { connectConversation } from "../pop3/conversation.ts";
import { PASSWORD, USER, corpus, deliver, emptyBox, exec, makeBox, makeCertificate, startService, tlsConversation, type Box, type Certificate, type Service } from "./harness.ts";

let cert: Certificate;
let box: Box;
let plain: Service;
let tlsOnly: Service; // clear-text-password=tls, 1 s handshake timeout

beforeAll(async () => {
  cert = makeCertificate();
  box = makeBox();
  deliver(box, corpus().slice(0, 1));
  plain = await startService(box, { env: { CERTFILE: cert.both } });
  tlsOnly = await startService(box, { env: { CERTFILE: cert.cert, KEYFILE: cert.key }, popupArgs: ["--clear-text-password=tls", "--tls-handshake-timeout=1", "--timeout=2"] });
});

afterAll(async () => {
  await plain?.stop();
  await tlsOnly?.stop();
});

/** Connects, reads the greeting, sends STLS, and upgrades; returns both conversations. */
async function starttls(port: number) {
  const { talk, socket } = await connectConversation(port);
  await talk.waitFor("+OK");
  talk.send("STLS\r\n");
  await talk.waitFor("+OK Begin TLS negotiation\r\n");
  socket.removeAllListeners("data");
  const secure = tls.connect({ socket, ca: [readFileSync(cert.cert)], servername: "localhost" });
  await new Promise<void>((resolve, reject) => { secure.once("secureConnect", () => resolve()); secure.once("error", reject); });
  return { plainTalk: talk, secure, talk: tlsConversation(secure) };
}

describe("STLS in popup", () => {
  test("CAPA offers STLS only before TLS; after it CAPA is fresh and a second STLS is refused", async () => {
    const { talk, socket } = await connectConversation(plain.port);
    await talk.waitFor("+OK");
    talk.send("CAPA\r\n");
    const before = await talk.waitFor("\r\n.\r\n");
    expect(before).toContain("\r\nSTLS\r\n");
    expect(before).toContain("\r\nUSER\r\n");
    socket.destroy();
    const up = await starttls(plain.port);
    up.talk.send("CAPA\r\n");
    const after = await up.talk.waitFor("\r\n.\r\n");
    expect(after).not.toContain("STLS");
    // The user database is in use: SCRAM too, with channel binding (-PLUS) now that TLS is on.
    expect(after).toContain("\r\nSASL PLAIN SCRAM-SHA-256-PLUS SCRAM-SHA-256 SCRAM-SHA-1-PLUS SCRAM-SHA-1\r\n");
    up.talk.send("STLS\r\n");
    await up.talk.waitFor("-ERR STLS not allowed: TLS is already active\r\n");
    expect(up.secure.getProtocol()).toMatch(/^TLSv1\.[23]$/);
    up.talk.send("QUIT\r\n");
    await up.talk.waitEnd();
  });

  test("USER given before STLS is forgotten after it (RFC 2595 section 4)", async () => {
    const { talk, socket } = await connectConversation(plain.port);
    await talk.waitFor("+OK");
    talk.send("USER demo\r\nSTLS\r\n");
    await talk.waitFor("+OK Begin TLS negotiation\r\n");
    socket.removeAllListeners("data");
    const secure = tls.connect({ socket, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => { secure.once("secureConnect", () => resolve()); secure.once("error", reject); });
    const t = tlsConversation(secure);
    t.send(`PASS ${PASSWORD}\r\n`);
    await t.waitFor("-ERR USER first\r\n");
    t.send(`USER ${USER}\r\nPASS ${PASSWORD}\r\nSTAT\r\nQUIT\r\n`);
    await t.waitFor(/\+OK 1 \d+\r\n/);
    await t.waitEnd();
  });

  test("after STLS a wrong password is answered through the relay and the session goes on; then the right one logs in", async () => {
    const up = await starttls(plain.port);
    up.talk.send(`USER ${USER}\r\nPASS wrong\r\n`);
    await up.talk.waitFor("-ERR [AUTH] authorization failed\r\n");
    up.talk.send(`PASS ${PASSWORD}\r\nSTAT\r\nQUIT\r\n`);
    await up.talk.waitFor(/\+OK 1 \d+\r\n/);
    await up.talk.waitEnd();
    expect(plain.log()).toMatch(/authorization failed rip=127\.0\.0\.1 user=demo mech=USER\n/);
  });

  test("plaintext pipelined after STLS is thrown away unexecuted (the command-injection attack); the handshake goes on", async () => {
    const { talk, socket } = await connectConversation(plain.port);
    await talk.waitFor("+OK");
    talk.send("STLS\r\nCAPA\r\nUSER demo\r\n");
    const text = await talk.waitFor("+OK Begin TLS negotiation\r\n");
    expect(text).not.toContain("capability list");
    socket.removeAllListeners("data");
    const secure = tls.connect({ socket, ca: [readFileSync(cert.cert)], servername: "localhost" });
    await new Promise<void>((resolve, reject) => { secure.once("secureConnect", () => resolve()); secure.once("error", reject); });
    const up = tlsConversation(secure);
    up.send(`PASS ${PASSWORD}\r\nQUIT\r\n`); // the injected USER was not remembered
    expect(await up.waitEnd(10_000)).toBe("-ERR USER first\r\n+OK \r\n");
    expect(talk.text.split("+OK Begin TLS negotiation\r\n")[1]).toBe("");
  });

  test("the handshake has its own timeout: STLS and then silence is dropped", async () => {
    const { talk } = await connectConversation(tlsOnly.port);
    await talk.waitFor("+OK");
    talk.send("STLS\r\n");
    await talk.waitFor("+OK Begin TLS negotiation\r\n");
    const started = Date.now();
    await talk.waitEnd(10_000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  test("the read timeout holds over TLS too: before login (popup) and after it (pop3d behind the relay)", async () => {
    for (const login of [false, true]) {
      const up = await starttls(tlsOnly.port);
      if (login) {
        up.talk.send(`USER ${USER}\r\nPASS ${PASSWORD}\r\n`);
        await up.talk.waitFor("+OK \r\n+OK \r\n");
      }
      const started = Date.now();
      await up.talk.waitEnd(10_000);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    }
  });

  test("a TLS client on the plain port is dropped without an answer", async () => {
    const sock = tls.connect({ host: "127.0.0.1", port: plain.port, rejectUnauthorized: false });
    const outcome = await new Promise<string>((resolve) => {
      sock.once("secureConnect", () => resolve("connected"));
      sock.once("error", (e) => resolve(`error ${e.message}`));
      sock.once("close", () => resolve("closed"));
    });
    expect(outcome).not.toBe("connected");
    sock.destroy();
    await Bun.sleep(200);
    expect(plain.log()).toContain("TLS handshake on the plain port, dropped rip=127.0.0.1");
  });

  test("clear-text-password=tls: USER, PASS and AUTH PLAIN refused before STLS, CAPA says so; after STLS the login works", async () => {
    const { talk, socket } = await connectConversation(tlsOnly.port);
    await talk.waitFor("+OK");
    talk.send("CAPA\r\n");
    const capa = await talk.waitFor("\r\n.\r\n");
    expect(capa).not.toContain("\r\nUSER\r\n");
    // SCRAM sends no password: it stays offered before STLS, PLAIN does not.
    expect(capa).not.toContain("PLAIN");
    expect(capa).toContain("\r\nSASL SCRAM-SHA-256 SCRAM-SHA-1\r\n");
    expect(capa).toContain("\r\nSTLS\r\n");
    talk.send(`USER ${USER}\r\n`);
    await talk.waitFor("-ERR [AUTH] clear-text passwords need TLS: send STLS first\r\n");
    talk.send(`AUTH PLAIN ${Buffer.from(`\0${USER}\0${PASSWORD}`).toString("base64")}\r\n`);
    await talk.waitFor("-ERR [AUTH] clear-text passwords need TLS", 10_000, 2);
    talk.send("AUTH\r\n");
    await talk.waitFor("+OK \r\nSCRAM-SHA-256\r\nSCRAM-SHA-1\r\n.\r\n");
    socket.destroy();
    const up = await starttls(tlsOnly.port);
    up.talk.send(`AUTH PLAIN ${Buffer.from(`\0${USER}\0${PASSWORD}`).toString("base64")}\r\nSTAT\r\nQUIT\r\n`);
    await up.talk.waitFor(/\+OK 1 \d+\r\n/);
    await up.talk.waitEnd();
  });
});

describe("serve --tls (implicit TLS)", () => {
  test("SSL_PROTOCOL and SSL_CIPHER reach the program; a plaintext client is dropped; TLS 1.1 is refused", async () => {
    const svc = await startService(box, { tls: true, env: { CERTFILE: cert.both }, program: ["/bin/sh", "-c", 'printf "%s %s\\r\\n" "$SSL_PROTOCOL" "$SSL_CIPHER"'] });
    try {
      const sock = tls.connect({ host: "127.0.0.1", port: svc.port, rejectUnauthorized: false });
      const line = await new Promise<string>((resolve) => {
        let got = "";
        sock.on("data", (d: Buffer) => { got += d.toString(); });
        sock.on("close", () => resolve(got));
      });
      expect(line).toMatch(/^TLSv1\.3 TLS_AES_\d+_GCM_SHA\d+\r\n$/);
      const raw = net.connect(svc.port, "127.0.0.1");
      let answer = "";
      raw.on("data", (d: Buffer) => { answer += d.toString("latin1"); });
      raw.write("USER demo\r\n");
      await new Promise<void>((resolve) => { raw.on("close", () => resolve()); raw.on("error", () => resolve()); });
      expect(answer).not.toContain("+OK");
      for (let i = 0; i < 40 && !svc.log().includes("TLS handshake failed"); i++) await Bun.sleep(50);
      expect(svc.log()).toContain("warning: dropping connection, TLS handshake failed");
      const old = await exec(["openssl", "s_client", "-tls1_1", "-connect", `127.0.0.1:${svc.port}`], { stdin: "" });
      expect(old.code).not.toBe(0);
      const v12 = await exec(["openssl", "s_client", "-tls1_2", "-connect", `127.0.0.1:${svc.port}`], { stdin: "" });
      expect(v12.out).toMatch(/New, TLSv1\.2, Cipher is ECDHE-/);
    } finally {
      await svc.stop();
    }
  });

  test("the key is read before -u/-g drop privileges; a reload that cannot find it keeps the old certificate", async () => {
    const keyDir = makeCertificate("root-only.example");
    chmodSync(keyDir.dir, 0o755); // the certificate is public, the key root's only
    chmodSync(keyDir.key, 0o600);
    const root = process.getuid!() === 0;
    const svc = await startService(box, {
      tls: true, env: { CERTFILE: keyDir.cert, KEYFILE: keyDir.key },
      program: ["/bin/echo", "hello"], serveArgs: root ? ["-u", "65534", "-g", "65534"] : [],
    });
    try {
      const greet = async () => {
        const s = tls.connect({ host: "127.0.0.1", port: svc.port, rejectUnauthorized: false });
        let got = "";
        s.on("data", (d: Buffer) => { got += d.toString(); });
        await new Promise<void>((resolve) => { s.on("close", () => resolve()); s.on("error", () => resolve()); });
        return got;
      };
      expect(await greet()).toBe("hello\n");
      renameSync(keyDir.key, `${keyDir.key}.gone`); // (as root, serve reloads through a key reader that keeps root's rights)
      process.kill(svc.pid, "SIGHUP");
      for (let i = 0; i < 40 && !svc.log().includes("keeping the old certificate"); i++) await Bun.sleep(50);
      expect(svc.log()).toContain(`warning: keeping the old certificate: unable to read key ${keyDir.key}: file does not exist`);
      expect(await greet()).toBe("hello\n");
    } finally {
      await svc.stop();
    }
  });

  test("refusals: --tls without a certificate, an unreadable certificate, a cipher list nothing matches; tls-cipher-list takes effect", async () => {
    const none = await exec([applet("tcpserver"), "--tls", "127.0.0.1", "0", "/bin/true"], { env: { CERTFILE: "" } });
    expect(none.code).toBe(111);
    expect(none.err).toBe("tcpserver: fatal: --tls needs a certificate: set CERTFILE (and KEYFILE unless CERTFILE holds the key)\n");
    const missing = await exec([applet("tcpserver"), "--tls", "127.0.0.1", "0", "/bin/true"], { env: { CERTFILE: "/nonexistent/pop.pem" } });
    expect(missing.err).toBe("tcpserver: fatal: unable to read certificate /nonexistent/pop.pem: file does not exist\n");
    const bad = await exec([applet("tcpserver"), "--tls", "127.0.0.1", "0", "/bin/true"], { env: { CERTFILE: cert.both, POPPIN_TLS_CIPHER_LIST: "NO-SUCH-CIPHER" } });
    expect(bad.code).toBe(111);
    expect(bad.err).toStartWith(`tcpserver: fatal: unable to use certificate ${cert.both} with key ${cert.both}: `);
    const popup = run([applet("qmail-popup"), "host", "/bin/true"], { stdin: "QUIT\r\n", env: { CERTFILE: "/nonexistent/pop.pem", TCPREMOTEIP: "192.0.2.7" } });
    expect(popup.code).toBe(111);
    expect(popup.out).toBe("-ERR [SYS/TEMP] temporary authorization failure, try again later\r\n");
    expect(popup.stderr).toBe("qmail-popup: fatal: unable to read certificate /nonexistent/pop.pem: file does not exist rip=192.0.2.7\n");
    const svc = await startService(box, { tls: true, env: { CERTFILE: cert.both, POPPIN_TLS_CIPHER_LIST: "ECDHE-ECDSA-AES128-GCM-SHA256" }, program: ["/bin/echo", "hi"] });
    try {
      const v12 = await exec(["openssl", "s_client", "-tls1_2", "-connect", `127.0.0.1:${svc.port}`], { stdin: "" });
      expect(v12.out).toContain("New, TLSv1.2, Cipher is ECDHE-ECDSA-AES128-GCM-SHA256");
      const other = await exec(["openssl", "s_client", "-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384", "-connect", `127.0.0.1:${svc.port}`], { stdin: "" });
      expect(other.out).toContain("Cipher is (NONE)");
    } finally {
      await svc.stop();
    }
  });

  test("tls-version=tlsv1.3 refuses TLS 1.2; SIGHUP re-reads the certificate for new connections", async () => {
    const file = `${cert.dir}/live.pem`;
    copyFileSync(cert.both, file);
    const svc = await startService(box, { tls: true, env: { CERTFILE: file, POPPIN_TLS_VERSION: "tlsv1.3" }, program: ["/bin/echo", "hello"] });
    try {
      const v12 = await exec(["openssl", "s_client", "-tls1_2", "-connect", `127.0.0.1:${svc.port}`], { stdin: "" });
      expect(v12.out).toContain("Cipher is (NONE)");
      expect(v12.code).not.toBe(0);
      const subject = async () => {
        const s = tls.connect({ host: "127.0.0.1", port: svc.port, rejectUnauthorized: false });
        await new Promise<void>((resolve, reject) => { s.once("secureConnect", () => resolve()); s.once("error", reject); });
        const cn = s.getPeerCertificate().subject.CN;
        s.destroy();
        return cn;
      };
      expect(await subject()).toBe("localhost");
      const other = makeCertificate("renewed.example");
      copyFileSync(other.both, file);
      process.kill(svc.pid, "SIGHUP");
      await Bun.sleep(300);
      expect(await subject()).toBe("renewed.example");
    } finally {
      await svc.stop();
      emptyBox(box);
      deliver(box, corpus().slice(0, 1));
    }
  });
});
