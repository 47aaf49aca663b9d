/**
 * The TLS certificate a service offers (CERTFILE/KEYFILE, or the config file's
 * tls-server-cert-file/tls-private-key-file): readable, in its validity period, and the
 * key its pair. serve refuses a mismatched pair at start but takes an expired certificate,
 * which every client then refuses (fetchmail: "certificate has expired").
 */
import type { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { describeSysError } from "../base/errors.ts";
import { nodeCrypto } from "../sys/builtins.ts";
import { failure, pass, type CheckResult } from "./report.ts";

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/;
const KEY_BLOCK = /-----BEGIN ((?:[A-Z]+ )?)PRIVATE KEY-----[\s\S]*?-----END \1PRIVATE KEY-----/;
const DAY_MS = 86_400_000;
/** Under this many days left, the detail says so (Let's Encrypt renews at 30). */
const SOON_DAYS = 14;

function day(d: Date): string {
  return d.toISOString().slice(0, 10);
}

export function checkCertificate(certFile: string, keyFile: string | undefined, now: Date): CheckResult {
  const keyPath = keyFile ?? certFile;
  const read = (path: string): string | CheckResult => {
    try {
      return readFileSync(path, "latin1");
    } catch (e) {
      return failure("certificate", `unable to read ${path}: ${describeSysError(e)}.`, `point CERTFILE and KEYFILE at the PEM files (serve reads them as root).`);
    }
  };
  const certText = read(certFile);
  if (typeof certText !== "string") return certText;
  const block = CERT_BLOCK.exec(certText);
  let cert: X509Certificate;
  try {
    if (!block) throw new Error("no BEGIN CERTIFICATE block");
    cert = new (nodeCrypto().X509Certificate)(block[0]);
  } catch (e) {
    return failure("certificate", `${certFile} holds no PEM certificate (${(e as Error).message}).`, "give CERTFILE the certificate in PEM form (fullchain.pem).");
  }
  const keyText = keyPath === certFile ? certText : read(keyPath);
  if (typeof keyText !== "string") return keyText;
  const keyBlock = KEY_BLOCK.exec(keyText);
  if (!keyBlock) return failure("certificate", `${keyPath} holds no PEM private key.`, "give KEYFILE the private key in PEM form (privkey.pem).");
  let matches: boolean;
  try {
    matches = cert.checkPrivateKey(nodeCrypto().createPrivateKey(keyBlock[0]));
  } catch (e) {
    return failure("certificate", `the private key in ${keyPath} cannot be used: ${(e as Error).message}.`, "give KEYFILE an unencrypted PEM private key.");
  }
  const subject = cert.subject.replace(/\n/g, ", ");
  if (!matches) {
    return failure("certificate", `the private key in ${keyPath} does not belong to the certificate in ${certFile} (${subject}), so serve refuses to start.`,
      "give KEYFILE the key the certificate was issued for (privkey.pem beside fullchain.pem).");
  }
  const from = new Date(cert.validFrom), to = new Date(cert.validTo);
  if (now.getTime() > to.getTime()) {
    return failure("certificate", `the certificate in ${certFile} (${subject}) expired on ${day(to)}: clients refuse it.`,
      "renew it (certbot renew), then svc -h the service (or systemctl reload) so serve reads the new one.");
  }
  if (now.getTime() < from.getTime()) {
    return failure("certificate", `the certificate in ${certFile} (${subject}) is valid only from ${day(from)}: clients refuse it until then.`,
      "check the system clock (timedatectl) or the certificate's dates.");
  }
  const left = Math.floor((to.getTime() - now.getTime()) / DAY_MS);
  return pass("certificate", `${certFile} (${subject}) is valid until ${day(to)}${left < SOON_DAYS ? ` (${left} days left: renew it soon)` : ""}, and ${keyPath} is its key.`);
}
