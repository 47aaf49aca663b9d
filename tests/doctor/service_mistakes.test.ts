/**
 * doctor --service on the mistakes a sysadmin makes around a conf'd service: the port held by
 * another program (serve cannot bind it), a certificate that expired, a key that is not the
 * certificate's; and no false alarm for a good certificate.
 */
import { afterAll, describe, expect, test } from "bun:test";
import * as net from "node:net";
import { chmodSync, chownSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { applet, POPPIN, requireTool, run, tempDir } from "../helpers.ts";

const NOBODY = 65534;
const work = tempDir("doctor-mistakes");
const openssl = requireTool("openssl");

function doctorLines(dir: string): Map<string, string> {
  const r = run([POPPIN, "doctor", "--service", dir], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, timeoutMs: 30_000 });
  const lines = new Map<string, string>();
  for (const line of Buffer.from(r.stdout).toString("utf8").split("\n")) {
    const m = /^([✓✗]) ([a-z-]+): /.exec(line);
    if (m) lines.set(m[2]!, line);
  }
  expect(r.code).toBe(1); // no supervisor runs these services
  return lines;
}

function key(name: string): string {
  const path = join(work, name);
  expect(run([openssl, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", path]).code).toBe(0);
  return path;
}

/** A self-signed certificate for `keyFile`, valid from `start` to `end` (openssl ca's YYYYMMDDHHMMSSZ). */
function certificate(name: string, keyFile: string, start: string, end: string): string {
  const ca = join(work, `${name}.ca`);
  run(["mkdir", "-p", ca]);
  writeFileSync(join(ca, "ca.cnf"), "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\ndefault_md = sha256\npolicy = p\nserial = serial\n[p]\ncommonName = supplied\n");
  writeFileSync(join(ca, "index.txt"), "");
  writeFileSync(join(ca, "serial"), "01\n");
  expect(run([openssl, "req", "-new", "-key", keyFile, "-subj", `/CN=${name}.example`, "-out", join(ca, "r.csr")]).code).toBe(0);
  const out = join(work, `${name}.pem`);
  const r = run([openssl, "ca", "-batch", "-config", "ca.cnf", "-selfsign", "-keyfile", keyFile, "-in", "r.csr", "-startdate", start, "-enddate", end, "-out", out], { cwd: ca });
  expect(r.stderr).not.toContain("error");
  expect(r.code).toBe(0);
  return out;
}

function pop3s(name: string, cert: string, keyFile: string, port: number): string {
  const dir = join(work, name);
  const r = run([POPPIN, "conf", "pop3s", "--cert", cert, "--key", keyFile, "--port", String(port), applet("checkpassword"), "nobody", dir, "127.0.0.1"]);
  expect(r.code).toBe(0);
  return dir;
}

let squatter: net.Server | undefined;
afterAll(() => squatter?.close());

describe("doctor --service: a sysadmin's mistakes", () => {
  test("the service's port held by another program is a failure that names it (serve cannot bind)", async () => {
    squatter = net.createServer();
    await new Promise<void>((r) => squatter!.listen(0, "127.0.0.1", () => r()));
    const port = (squatter.address() as net.AddressInfo).port;
    const dir = join(work, "pop3d");
    expect(run([POPPIN, "conf", "pop3d", "--port", String(port), applet("checkpassword"), "nobody", dir, "127.0.0.1"]).code).toBe(0);
    const listener = doctorLines(dir).get("listener")!;
    expect(listener).toStartWith(`✗ listener: port ${port} (127.0.0.1) is held by pid ${process.pid} (`);
    expect(listener).toContain(`not by the service in ${dir}: its serve cannot bind the port. Fix: stop that program`);
    expect(listener).toContain(`${dir}/env/PORT, then svc -t ${dir}.`);
  });

  test("certificate: expired, not yet valid, key of another certificate; a good pair passes", () => {
    const k1 = key("k1.pem");
    const k2 = key("k2.pem");
    const expired = certificate("expired", k1, "20200101000000Z", "20210101000000Z");
    const future = certificate("future", k1, "20990101000000Z", "20991231000000Z");
    const good = certificate("good", k1, "20200101000000Z", "20900101000000Z");
    expect(doctorLines(pop3s("expired", expired, k1, 1)).get("certificate")).toBe(
      `✗ certificate: the certificate in ${expired} (CN=expired.example) expired on 2021-01-01: clients refuse it. Fix: renew it (certbot renew), then svc -h the service (or systemctl reload) so serve reads the new one.`);
    expect(doctorLines(pop3s("future", future, k1, 1)).get("certificate")).toStartWith(
      `✗ certificate: the certificate in ${future} (CN=future.example) is valid only from 2099-01-01: clients refuse it until then.`);
    expect(doctorLines(pop3s("mismatch", good, k2, 1)).get("certificate")).toStartWith(
      `✗ certificate: unable to use certificate ${good} with key ${k2}: the key in ${k2} does not belong to the certificate in ${good} (KEY_VALUES_MISMATCH): serve refuses to start.`);
    // The pair is judged by serve's own code: the same words as serve's refusal.
    const encrypted = join(work, "doctor-enc.pem");
    expect(run([openssl, "pkey", "-in", k1, "-aes256", "-passout", "pass:x", "-out", encrypted]).code).toBe(0);
    expect(doctorLines(pop3s("encrypted", good, encrypted, 1)).get("certificate")).toContain(
      `the key in ${encrypted} is encrypted with a passphrase, which no one can type for a service`);
    expect(doctorLines(pop3s("good", good, k1, 1)).get("certificate")).toBe(
      `✓ certificate: ${good} (CN=good.example) is valid until 2090-01-01, and ${k1} is its key.`);
  });

  test("serve's own refusal of a bad pair says which file is wrong, in words (not only OpenSSL's reason code)", () => {
    const k1 = join(work, "k1.pem");
    const k2 = join(work, "k2.pem");
    const good = join(work, "good.pem");
    const encrypted = join(work, "enc.pem");
    expect(run([openssl, "pkey", "-in", k1, "-aes256", "-passout", "pass:x", "-out", encrypted]).code).toBe(0);
    const serve = (cert: string, keyFile: string) => run([POPPIN, "serve", "--tls", "127.0.0.1", "0", "/bin/cat"], { env: { CERTFILE: cert, KEYFILE: keyFile }, timeoutMs: 10_000 });
    const mismatch = serve(good, k2);
    expect(mismatch.code).toBe(111);
    expect(mismatch.stderr).toBe(`poppin serve: fatal: unable to use certificate ${good} with key ${k2}: the key in ${k2} does not belong to the certificate in ${good} (KEY_VALUES_MISMATCH)\n`);
    expect(serve(good, encrypted).stderr).toContain(`: the key in ${encrypted} is encrypted with a passphrase, which no one can type for a service (decrypt it: openssl pkey -in KEY -out PLAIN.pem, mode 600)`);
    expect(serve(k1, k1).stderr).toContain(`: ${k1} holds no PEM certificate (-----BEGIN CERTIFICATE-----) (NO_START_LINE)\n`);
    expect(serve(good, good).stderr).toContain(`: ${good} holds no PEM private key (-----BEGIN PRIVATE KEY-----) (NO_START_LINE)\n`);
  });

  test("log-dir: the log account must be able to write log/main and the files in it; conf's own layout passes", () => {
    const dir = join(work, "logged");
    expect(run([POPPIN, "conf", "pop3d", "--port", "1", applet("checkpassword"), "nobody", dir, "127.0.0.1"]).code).toBe(0);
    const main = join(dir, "log", "main");
    chmodSync(work, 0o700);
    expect(doctorLines(dir).get("log-dir")).toBe(`✗ log-dir: nobody, the log account, cannot write the log: ${work} (mode 700, owner 0:0) cannot be entered. ` +
      `Fix: let the log account through: chmod o+x ${work} (or move the service out of it), then svc -t ${dir}/log.`);
    chmodSync(work, 0o755);
    const fix = `Fix: chown -R nobody ${main} (it must own the directory and every file in it), then svc -t ${dir}/log.`;
    expect(doctorLines(dir).get("log-dir")).toBe(`✓ log-dir: nobody, the log account, can write ${main}.`);
    chownSync(main, 0, 0);
    expect(doctorLines(dir).get("log-dir")).toBe(`✗ log-dir: nobody, the log account, cannot write the log: ${main} (mode 2755, owner 0:0) cannot be written. ${fix}`);
    chownSync(main, NOBODY, NOBODY);
    writeFileSync(join(main, "current"), ""); // left by a multilog tried as root
    expect(doctorLines(dir).get("log-dir")).toBe(`✗ log-dir: nobody, the log account, cannot write the log: ${main}/current (mode 644, owner 0:${NOBODY}) cannot be written. ${fix}`);
    chownSync(join(main, "current"), NOBODY, NOBODY);
    expect(doctorLines(dir).get("log-dir")).toStartWith("✓ log-dir: ");
    rmSync(main, { recursive: true });
    expect(doctorLines(dir).get("log-dir")).toBe(`✗ log-dir: nobody, the log account, cannot write the log: ${main} does not exist. Fix: mkdir ${main} && chown nobody ${main} && chmod 2755 ${main}, then svc -t ${dir}/log.`);
  });
});
