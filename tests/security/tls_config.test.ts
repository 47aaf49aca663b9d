/**
 * The TLS configuration offered by default: on the implicit-TLS port (serve --tls, as on
 * 995) checked with nmap's ssl-enum-ciphers, and after STLS checked with openssl s_client:
 * no SSLv3, TLS 1.0 or 1.1, no weak cipher (every suite graded A), TLS 1.2 and 1.3 work.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, requireTool, run, tempDir } from "../helpers.ts";

const servers: ChildProcess[] = [];
afterAll(() => {
  for (const s of servers) s.kill("SIGKILL");
});

const dir = tempDir("tls");
const cert = join(dir, "cert.pem");
const key = join(dir, "key.pem");
const home = join(dir, "home");
for (const sub of ["new", "cur", "tmp"]) mkdirSync(join(home, "Maildir", sub), { recursive: true });

function makeCert(): void {
  const r = run([requireTool("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost"]);
  if (r.code !== 0) throw new Error(r.stderr);
}

/** serve [--tls] running poppin's chain; resolves with the port. */
function startServe(tls: boolean): Promise<number> {
  const args = [...(tls ? ["--tls"] : []), "-1", "-R", "-H", "127.0.0.1", "0", POPPIN, "popup", "pop.example.org", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"];
  const child = spawn(POPPIN, ["serve", ...args], { cwd: home, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", CERTFILE: cert, KEYFILE: key }, stdio: ["ignore", "pipe", "pipe"] });
  servers.push(child);
  let err = "";
  child.stderr!.on("data", (d: Buffer) => { err += d.toString(); });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${err}`)), 10_000);
    child.stdout!.once("data", (d: Buffer) => { clearTimeout(timer); resolve(Number(d.toString().trim())); });
  });
}

/** One STLS handshake with openssl s_client; returns the protocol agreed, or null when refused. */
function stlsHandshake(port: number, extra: string[]): string | null {
  const r = run([requireTool("openssl"), "s_client", "-starttls", "pop3", "-connect", `127.0.0.1:${port}`, ...extra], { stdin: "QUIT\r\n", timeoutMs: 15_000 });
  const text = r.out + r.stderr;
  const cipher = /Cipher is (\S+)/.exec(text)?.[1];
  if (!cipher || cipher === "(NONE)") return null;
  return /Protocol\s*:\s*(\S+)/.exec(text)?.[1] ?? /New, (TLSv[\d.]+)/.exec(text)?.[1] ?? "?";
}

describe("TLS configuration (defaults)", () => {
  makeCert();

  test("implicit TLS (serve --tls): nmap ssl-enum-ciphers sees TLS 1.2 and 1.3 only, every suite graded A", async () => {
    const port = await startServe(true);
    const r = run([requireTool("nmap"), "-Pn", "-p", String(port), "--script", "ssl-enum-ciphers", "127.0.0.1"], { timeoutMs: 60_000 });
    expect(r.code).toBe(0);
    const report = r.out;
    expect(report).toContain("TLSv1.2:");
    expect(report).toContain("TLSv1.3:");
    for (const old of ["SSLv3", "TLSv1.0", "TLSv1.1"]) expect(report).not.toContain(`${old}:`);
    expect(report).toContain("least strength: A");
    const suites = report.split("\n").filter((l) => /TLS_\w+ \(/.test(l));
    expect(suites.length).toBeGreaterThan(3);
    for (const suite of suites) {
      expect(suite).toMatch(/ - A$/);
      expect(suite).not.toMatch(/RC4|3DES|_DES_|NULL|EXPORT|anon|MD5/);
    }
    expect(report).not.toMatch(/warnings:/);
  }, 90_000);

  test("after STLS: TLS 1.0 and 1.1 refused even when the client offers them, weak suites refused, 1.2 and 1.3 agreed", async () => {
    const port = await startServe(false);
    const any = "DEFAULT:@SECLEVEL=0";
    expect(stlsHandshake(port, ["-tls1", "-cipher", any])).toBeNull();
    expect(stlsHandshake(port, ["-tls1_1", "-cipher", any])).toBeNull();
    expect(stlsHandshake(port, ["-tls1_2", "-cipher", "RC4:3DES:DES:NULL:EXPORT:aNULL:eNULL:MD5:@SECLEVEL=0"])).toBeNull();
    // Static RSA key exchange (no forward secrecy) and CBC-SHA1 suites are not offered by default.
    expect(stlsHandshake(port, ["-tls1_2", "-cipher", "AES128-SHA:AES256-GCM-SHA384:AES128-GCM-SHA256"])).toBeNull();
    expect(stlsHandshake(port, ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA"])).toBeNull();
    expect(stlsHandshake(port, ["-tls1_2"])).toBe("TLSv1.2");
    expect(stlsHandshake(port, ["-tls1_3"])).toBe("TLSv1.3");
  }, 90_000);
});
