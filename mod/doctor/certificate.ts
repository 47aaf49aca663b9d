/**
 * The TLS certificate a service offers (CERTFILE/KEYFILE, or the config file's
 * tls-server-cert-file/tls-private-key-file): readable, in its validity period, and the
 * key its pair (judged by serve's own code, mod/tls/key_material.ts, in its words). serve
 * refuses a mismatched pair at start but takes an expired certificate,
 * which every client then refuses (fetchmail: "certificate has expired").
 */
import type { X509Certificate } from "node:crypto";
import { contextFromMaterial, readMaterial } from "../tls/key_material.ts";
import { nodeCrypto } from "../sys/builtins.ts";
import { failure, pass, type CheckResult } from "./report.ts";

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/;
const DAY_MS = 86_400_000;
/** Under this many days left, the detail says so (Let's Encrypt renews at 30). */
const SOON_DAYS = 14;

function day(d: Date): string {
  return d.toISOString().slice(0, 10);
}

export function checkCertificate(certFile: string, keyFile: string | undefined, now: Date): CheckResult {
  const keyPath = keyFile ?? certFile;
  const files = { certFile, ...(keyFile !== undefined ? { keyFile } : {}) };
  // The pair is judged as serve judges it at start (the same reading, the same words).
  let material: Buffer;
  try {
    material = readMaterial(files);
    contextFromMaterial(material, files);
  } catch (e) {
    return failure("certificate", `${(e as Error).message}: serve refuses to start.`,
      "give CERTFILE the certificate chain (fullchain.pem) and KEYFILE its unencrypted private key (privkey.pem), both PEM, readable by root.");
  }
  const block = CERT_BLOCK.exec(material.toString("latin1"));
  let cert: X509Certificate;
  try {
    if (!block) throw new Error("no BEGIN CERTIFICATE block");
    cert = new (nodeCrypto().X509Certificate)(block[0]);
  } catch (e) {
    return failure("certificate", `${certFile} holds no PEM certificate (${(e as Error).message}).`, "give CERTFILE the certificate in PEM form (fullchain.pem).");
  }
  const subject = cert.subject.replace(/\n/g, ", ");
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
