import { describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { endPointHash, channelBindingFromEnv } from "../../mod/tls/channel_binding.ts";
import { requireTool, run, tempDir } from "../helpers.ts";

function certificate(args: string[]): Buffer {
  requireTool("openssl");
  const dir = tempDir("cb");
  const r = run(["openssl", "req", "-x509", "-nodes", "-keyout", join(dir, "k.pem"), "-out", join(dir, "c.pem"), "-days", "1", "-subj", "/CN=x", ...args]);
  expect(r.code).toBe(0);
  return new X509Certificate(readFileSync(join(dir, "c.pem"))).raw;
}

describe("tls-server-end-point: the hash of the certificate's signature algorithm (RFC 5929 section 4.1)", () => {
  test("SHA-256, SHA-384 and SHA-512 signatures (RSA and ECDSA); SHA-1 becomes SHA-256", () => {
    expect(endPointHash(certificate(["-newkey", "rsa:2048", "-sha256"]))).toBe("sha256");
    expect(endPointHash(certificate(["-newkey", "rsa:2048", "-sha384"]))).toBe("sha384");
    expect(endPointHash(certificate(["-newkey", "rsa:2048", "-sha512"]))).toBe("sha512");
    expect(endPointHash(certificate(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-sha384"]))).toBe("sha384");
    expect(endPointHash(certificate(["-newkey", "rsa:2048", "-sha1"]))).toBe("sha256");
    expect(endPointHash(new Uint8Array([0x30, 0x82]))).toBe("sha256"); // truncated DER
  });

  test("binding data passed by serve --tls is taken only in its exact base64 form", () => {
    const good = Buffer.alloc(32, 1).toString("base64");
    expect(channelBindingFromEnv({ POPPIN_TLS_EXPORTER: good }, "tls-exporter")).toEqual(new Uint8Array(32).fill(1));
    expect(channelBindingFromEnv({ POPPIN_TLS_EXPORTER: "short" }, "tls-exporter")).toBeUndefined();
    expect(channelBindingFromEnv({}, "tls-server-end-point")).toBeUndefined();
  });
});
