/**
 * Keys only root can read, with serve dropping to -u/-g, in both modes (the classic chain
 * and --inline): the privileged side reads the key once and hands the material on (popup
 * gets it on an inherited sealed descriptor, never the path); SIGHUP reloads it through a
 * key reader that kept root's rights; a reload that finds a bad certificate keeps the old
 * one everywhere (serve's own TLS and popup's STLS), with a warning.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, copyFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
import { join } from "node:path";
import { applet, run, tempDir } from "../helpers.ts";
import { makeBox, makeCertificate, PASSWORD, startService, USER, type Service } from "./harness.ts";

const box = makeBox(); // user uid 12345 when root
chownSync(box.userdb, 12345, 12345); // read by checkpassword running as -u 12345
const DROP = ["-u", "12345", "-g", "12345"];
const services: Service[] = [];
afterAll(async () => {
  for (const s of services) await s.stop();
});

/** A certificate whose key only root can read, in files that later reloads will replace. */
function rootOnlyCertificate(cn: string) {
  const c = makeCertificate(cn);
  chmodSync(c.dir, 0o755);
  chmodSync(c.key, 0o600);
  return c;
}

/** Replaces the live files with those of `from` (same names, the key still root's only). */
function install(into: { cert: string; key: string }, from: { cert: string; key: string }): void {
  copyFileSync(from.cert, into.cert);
  copyFileSync(from.key, into.key);
  chmodSync(into.key, 0o600);
}

/** Connects (implicit TLS, or plain then STLS), logs in, STAT, QUIT; the certificate's CN and the transcript after TLS. */
async function session(port: number, how: "implicit" | "stls"): Promise<{ cn: string; transcript: string }> {
  let raw: net.Socket | undefined;
  if (how === "stls") {
    raw = net.connect({ host: "127.0.0.1", port });
    let plain = "";
    await new Promise<void>((resolve, reject) => {
      raw!.on("data", (c: Buffer) => {
        plain += c.toString("latin1");
        if (/^\+OK [^\r]*\r\n/.test(plain) && !plain.includes("STLS-sent")) {
          plain += "STLS-sent";
          raw!.write("STLS\r\n");
        } else if (/STLS-sent\+OK[^\r]*\r\n$/.test(plain)) {
          raw!.removeAllListeners("data");
          resolve();
        } else if (plain.includes("-ERR")) reject(new Error(`STLS refused: ${plain}`));
      });
      raw!.on("error", reject);
    });
  }
  const sock = tls.connect({ ...(raw ? { socket: raw } : { host: "127.0.0.1", port }), rejectUnauthorized: false });
  let transcript = "";
  sock.on("data", (c: Buffer) => (transcript += c.toString("latin1")));
  await new Promise<void>((resolve, reject) => {
    sock.once("secureConnect", () => resolve());
    sock.once("error", reject);
  });
  const cn = String(sock.getPeerCertificate().subject?.CN ?? "");
  sock.write(`USER ${USER}\r\nPASS ${PASSWORD}\r\nSTAT\r\nQUIT\r\n`);
  await new Promise<void>((resolve) => {
    sock.on("close", () => resolve());
    sock.on("error", () => resolve());
    setTimeout(() => { sock.destroy(); resolve(); }, 10_000);
  });
  return { cn, transcript };
}

async function hangup(svc: Service, expectLog?: string): Promise<void> {
  const before = svc.log().length;
  process.kill(svc.pid, "SIGHUP");
  if (expectLog !== undefined) for (let i = 0; i < 60 && !svc.log().slice(before).includes(expectLog); i++) await Bun.sleep(50);
  else await Bun.sleep(500);
}

const served = /\+OK 0 0\r\n\+OK/;

for (const mode of ["classic", "inline"] as const) {
  const modeArgs = mode === "inline" ? ["--inline"] : [];
  describe(mode, () => {
    test("--tls -u USER with a root-only key: sessions are served; SIGHUP loads a renewed root-only certificate; a bad one is refused and the old one kept", async () => {
      const live = rootOnlyCertificate("first.example");
      const svc = await startService(box, { tls: true, serveArgs: [...modeArgs, ...DROP], env: { CERTFILE: live.cert, KEYFILE: live.key } });
      services.push(svc);
      const first = await session(svc.port, "implicit");
      expect(first.cn).toBe("first.example");
      expect(first.transcript).toMatch(served);
      install(live, rootOnlyCertificate("second.example"));
      await hangup(svc);
      const second = await session(svc.port, "implicit");
      expect(second.cn).toBe("second.example");
      expect(second.transcript).toMatch(served);
      writeFileSync(live.cert, "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n");
      await hangup(svc, "keeping the old certificate");
      expect(svc.log()).toMatch(/warning: keeping the old certificate: unable to use certificate /);
      const third = await session(svc.port, "implicit");
      expect(third.cn).toBe("second.example");
      expect(third.transcript).toMatch(served);
    }, 30_000);

    test("STLS with -u USER and a root-only key: popup never reads the key; SIGHUP renews it; a bad certificate keeps the old one for every new session", async () => {
      const live = rootOnlyCertificate("stls-first.example");
      const svc = await startService(box, { serveArgs: [...modeArgs, ...DROP], env: { CERTFILE: live.cert, KEYFILE: live.key } });
      services.push(svc);
      const first = await session(svc.port, "stls");
      expect(first.cn).toBe("stls-first.example");
      expect(first.transcript).toMatch(served);
      install(live, rootOnlyCertificate("stls-second.example"));
      await hangup(svc);
      expect((await session(svc.port, "stls")).cn).toBe("stls-second.example");
      writeFileSync(live.key, "garbage\n");
      await hangup(svc, "keeping the old STLS certificate");
      expect(svc.log()).toMatch(/warning: keeping the old STLS certificate: unable to use certificate /);
      const third = await session(svc.port, "stls");
      expect(third.cn).toBe("stls-second.example");
      expect(third.transcript).toMatch(served);
      expect(svc.log()).not.toContain("fatal");
    }, 30_000);
  });
}

test("classic: a rule (-x) naming other certificate files for a connection: popup reads those itself, not serve's material", async () => {
  const main = makeCertificate("main.example");
  const other = makeCertificate("per-rule.example");
  const dir = tempDir("rules");
  const rules = join(dir, "rules.cdb");
  const made = run([applet("tcprules"), rules, join(dir, "rules.tmp")], { stdin: `127.0.0.1:allow,CERTFILE="${other.cert}",KEYFILE="${other.key}"\n` });
  expect(made.code).toBe(0);
  const svc = await startService(box, { serveArgs: ["-x", rules], env: { CERTFILE: main.cert, KEYFILE: main.key } });
  services.push(svc);
  const got = await session(svc.port, "stls");
  expect(got.cn).toBe("per-rule.example");
  expect(got.transcript).toMatch(served);
});
