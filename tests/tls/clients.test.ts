/**
 * Real clients over TLS, each downloading the whole mailbox byte-identical: openssl
 * s_client (STLS and implicit), curl (--ssl-reqd pop3:// and pop3s://), fetchmail
 * (sslproto for STLS, ssl for implicit), mpop (tls_starttls on and off). Then a MITM
 * that strips STLS from CAPA: clients that require TLS never send the password in clear.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { requireTool, tempDir } from "../helpers.ts";
import { PASSWORD, USER, boxCount, canonical, corpus, deliver, emptyBox, exec, makeBox, makeCertificate, retrieved, startService, type Box, type Certificate, type Service } from "./harness.ts";

let cert: Certificate;
let box: Box;
let plain: Service; // STLS in popup
let implicit: Service; // serve --tls
const expected = () => corpus().map(canonical).sort();

beforeAll(async () => {
  for (const tool of ["openssl", "curl", "fetchmail", "mpop"]) requireTool(tool);
  cert = makeCertificate("127.0.0.1"); // fetchmail matches the CN against the host name it was given
  box = makeBox();
  const env = { CERTFILE: cert.cert, KEYFILE: cert.key };
  plain = await startService(box, { env });
  implicit = await startService(box, { tls: true, env: { CERTFILE: cert.both } });
});

afterAll(async () => {
  await plain?.stop();
  await implicit?.stop();
});

function fresh(): void {
  emptyBox(box);
  deliver(box, corpus());
}

async function sClient(port: number, starttls: boolean): Promise<string> {
  const n = corpus().length;
  const script = [`USER ${USER}`, `PASS ${PASSWORD}`, ...Array.from({ length: n }, (_, i) => `RETR ${i + 1}`), ...Array.from({ length: n }, (_, i) => `DELE ${i + 1}`), "QUIT", ""].join("\r\n");
  const r = await exec(["openssl", "s_client", "-quiet", "-CAfile", cert.cert, "-verify_return_error", ...(starttls ? ["-starttls", "pop3"] : []), "-connect", `127.0.0.1:${port}`], { stdin: script });
  expect(r.err).not.toContain("verify error");
  return r.out;
}

describe("real clients over TLS download byte-identical", () => {
  test("openssl s_client -starttls pop3 (STLS) and implicit TLS", async () => {
    for (const [service, starttls] of [[plain, true], [implicit, false]] as const) {
      fresh();
      const out = await sClient(service.port, starttls);
      expect(retrieved(out).sort()).toEqual(expected());
      expect(out).toContain("+OK \r\n"); // QUIT's answer: deletions done
      expect(boxCount(box)).toBe(0);
    }
  });

  test("curl --ssl-reqd pop3:// (STLS) and pop3s:// (implicit), verifying the certificate", async () => {
    for (const url of [`pop3://127.0.0.1:${plain.port}/`, `pop3s://127.0.0.1:${implicit.port}/`]) {
      fresh();
      const work = tempDir("curl");
      const got: string[] = [];
      for (let i = 1; i <= corpus().length; i++) {
        const file = join(work, `m${i}`);
        const r = await exec(["curl", "-sS", "--max-time", "30", "--ssl-reqd", "--cacert", cert.cert, "--user", `${USER}:${PASSWORD}`, "-o", file, `${url}${i}`]);
        expect(r.err).toBe("");
        expect(r.code).toBe(0);
        got.push(canonical(readFileSync(file)));
      }
      expect(got.sort()).toEqual(expected());
    }
  });

  test("fetchmail: sslproto TLS1.2+ (STLS) and ssl (implicit)", async () => {
    for (const [port, mode] of [[plain.port, `sslproto "TLS1.2+"`], [implicit.port, `ssl sslproto "TLS1.2+"`]] as const) {
      fresh();
      const work = tempDir("fetchmail");
      const out = join(work, "out");
      mkdirSync(out);
      const rc = join(work, "fetchmailrc");
      writeFileSync(rc, [
        "set no syslog",
        `poll 127.0.0.1 service ${port} protocol pop3 auth password`,
        `  user "${USER}" password "${PASSWORD}" ${mode} sslcertfile "${cert.cert}" sslcertck`,
        `  mda "/bin/sh -c 'cat > ${out}/$$$$'"`,
        "  no keep fetchall", "",
      ].join("\n"));
      chmodSync(rc, 0o600);
      const r = await exec(["fetchmail", "--nodetach", "--norewrite", "--pidfile", join(work, "pid"), "-f", rc], { cwd: work, env: { FETCHMAILHOME: work } });
      expect(`${r.code} ${r.err.replace(/^fetchmail: WARNING: Running as root is discouraged.\n/, "")}`).toBe("0 ");
      const dropReceived = (m: Buffer) => Buffer.from(m.toString("latin1").replace(/^Received: [^\n]*\n(?:[ \t][^\n]*\n)*/, ""), "latin1");
      expect(readdirSync(out).map((f) => canonical(dropReceived(readFileSync(join(out, f))))).sort()).toEqual(expected());
      expect(boxCount(box)).toBe(0);
    }
  });

  test("mpop: tls on with tls_starttls on (STLS) and off (implicit)", async () => {
    for (const [port, starttls] of [[plain.port, "on"], [implicit.port, "off"]] as const) {
      fresh();
      const work = tempDir("mpop");
      const md = join(work, "md");
      for (const sub of ["tmp", "new", "cur"]) mkdirSync(join(md, sub), { recursive: true });
      const rc = join(work, "mpoprc");
      writeFileSync(rc, [
        "account default", "host 127.0.0.1", `port ${port}`, "tls on", `tls_starttls ${starttls}`, `tls_trust_file ${cert.cert}`,
        "auth user", `user ${USER}`, `password ${PASSWORD}`, `delivery maildir ${md}`, "received_header off", "keep off",
        "only_new off", `uidls_file ${join(work, "uidls")}`, "",
      ].join("\n"));
      chmodSync(rc, 0o600);
      const r = await exec(["mpop", "-C", rc, "-q"], { cwd: work });
      expect(`${r.code} ${r.err}`).toBe("0 ");
      const got = ["new", "cur"].flatMap((s) => readdirSync(join(md, s)).map((f) => canonical(readFileSync(join(md, s, f)))));
      expect(got.sort()).toEqual(expected());
      expect(boxCount(box)).toBe(0);
    }
  });
});

/** A man in the middle on the plain port: removes STLS from what the server says, records what the client says. */
async function strippingProxy(target: number): Promise<{ port: number; fromClient: () => Buffer; close: () => void }> {
  const seen: Buffer[] = [];
  const server = net.createServer((client) => {
    const upstream = net.connect(target, "127.0.0.1");
    client.on("data", (d: Buffer) => { seen.push(d); upstream.write(d); });
    upstream.on("data", (d: Buffer) => client.write(Buffer.from(d.toString("latin1").replace(/^STLS\r\n/gm, ""), "latin1")));
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return { port: (server.address() as net.AddressInfo).port, fromClient: () => Buffer.concat(seen), close: () => server.close() };
}

describe("a MITM stripping STLS from CAPA", () => {
  test("curl --ssl-reqd and mpop (tls on) never send the password in clear", async () => {
    fresh();
    const proxy = await strippingProxy(plain.port);
    try {
      const curl = await exec(["curl", "-sS", "--max-time", "20", "--ssl-reqd", "-k", "--user", `${USER}:${PASSWORD}`, `pop3://127.0.0.1:${proxy.port}/1`]);
      const work = tempDir("mitm");
      const rc = join(work, "mpoprc");
      writeFileSync(rc, ["account default", "host 127.0.0.1", `port ${proxy.port}`, "tls on", "tls_starttls on", "tls_certcheck off",
        "auth user", `user ${USER}`, `password ${PASSWORD}`, `delivery maildir ${work}`, "keep on", `uidls_file ${join(work, "u")}`, ""].join("\n"));
      chmodSync(rc, 0o600);
      const mpop = await exec(["mpop", "-C", rc, "-q"], { cwd: work });
      const clear = proxy.fromClient().toString("latin1");
      expect(clear).toContain("CAPA"); // the proxy did see the clients
      expect(clear).not.toContain(PASSWORD);
      expect(clear).not.toContain(Buffer.from(`\0${USER}\0${PASSWORD}`).toString("base64"));
      expect(clear).not.toMatch(/^(PASS|AUTH PLAIN .)/m);
      // Each either refused to go on without STLS or did STLS anyway (then everything after is ciphertext).
      expect(curl.code === 0 || /STLS|TLS|SSL/i.test(curl.err)).toBe(true);
      expect(mpop.code === 0 || /TLS|STLS|STARTTLS/i.test(mpop.err)).toBe(true);
    } finally {
      proxy.close();
    }
  });
});
