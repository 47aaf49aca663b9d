/**
 * TLS key material as bytes: the certificate chain and the private key in one PEM blob
 * (as ucspi-ssl's CERTFILE may hold both). The privileged side reads the files once; a
 * session started by serve gets the blob through an inherited descriptor named by
 * POPPIN_TLS_FD (a sealed memory file, mod/sys/sealed_file.ts), never the paths, so a
 * session running as an unprivileged uid can use a key only root can read, and a SIGHUP
 * that found a bad file leaves every new session on the old certificate.
 */
import { ENV, envCheck } from "../base/env.ts";
import { closeSync, fstatSync, readFileSync, readSync } from "node:fs";
import type tls from "node:tls";
import { TempError, describeSysError } from "../base/errors.ts";
import { nodeTls } from "../sys/builtins.ts";

/** The variable naming the descriptor that holds the material (set by serve for popup). */
export const TLS_FD_VARIABLE: string = ENV.tlsFd.name;
/** A certificate chain and key are a few KiB; anything past this is not one. */
export const MAX_MATERIAL_OCTETS = 1 << 20;

export interface TlsFiles {
  certFile: string;
  /** Defaults to certFile (one PEM holding both). */
  keyFile?: string;
  minVersion?: "TLSv1.2" | "TLSv1.3";
  ciphers?: string;
}

/**
 * TLS 1.2 suites offered unless tls-cipher-list says otherwise: forward secrecy and AEAD
 * only (no TLS_RSA_* key exchange, no CBC/SHA1), in our order. TLS 1.3's suites are all
 * modern and stay OpenSSL's defaults.
 */
export const DEFAULT_TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20";

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new TempError(`unable to read ${what} ${file}: ${describeSysError(e)}`);
  }
}

/** The files' bytes as one blob (certificate, then the key when it is a file of its own); TempError naming the file. */
export function readMaterial(files: TlsFiles): Buffer {
  const cert = readPem(files.certFile, "certificate");
  if (files.keyFile === undefined || files.keyFile === files.certFile) return cert;
  return Buffer.concat([cert, Buffer.from("\n"), readPem(files.keyFile, "key")]);
}

/** The context for `material`; TempError naming the files it came from when it is unusable. */
export function contextFromMaterial(material: Buffer, files: TlsFiles): tls.SecureContext {
  try {
    return nodeTls().createSecureContext({
      cert: material,
      key: material,
      minVersion: files.minVersion ?? "TLSv1.2",
      ciphers: files.ciphers ?? DEFAULT_TLS12_CIPHERS,
      honorCipherOrder: true,
    });
  } catch (e) {
    throw new TempError(`unable to use certificate ${files.certFile} with key ${files.keyFile ?? files.certFile}: ${materialProblem(material, files, (e as Error).message)}`);
  }
}

/**
 * OpenSSL's reason in a sysadmin's words, the reason itself kept at the end for searching:
 * "error:0b000074:X.509 certificate routines:OPENSSL_internal:KEY_VALUES_MISMATCH" says
 * nothing about which file to fix.
 */
export function materialProblem(material: Buffer, files: TlsFiles, openssl: string): string {
  const reason = /:([A-Z0-9_]+)$/.exec(openssl)?.[1];
  const keyFile = files.keyFile ?? files.certFile;
  const text = material.toString("latin1");
  let plain: string | undefined;
  if (reason === "KEY_VALUES_MISMATCH") plain = `the key in ${keyFile} does not belong to the certificate in ${files.certFile}`;
  else if (reason === "BAD_DECRYPT" || /ENCRYPTED/.test(text)) plain = `the key in ${keyFile} is encrypted with a passphrase, which no one can type for a service (decrypt it: openssl pkey -in KEY -out PLAIN.pem, mode 600)`;
  else if (!text.includes("-----BEGIN CERTIFICATE-----")) plain = `${files.certFile} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`;
  else if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) plain = `${keyFile} holds no PEM private key (-----BEGIN PRIVATE KEY-----)`;
  return plain === undefined ? openssl : `${plain} (${reason ?? openssl})`;
}

/**
 * The material serve passed on the descriptor POPPIN_TLS_FD names (undefined when it names
 * none). The descriptor is closed here, whatever happens: the programs this one runs never
 * inherit it. TempError when it cannot be read.
 */
export function materialFromEnv(env: NodeJS.ProcessEnv): Buffer | undefined {
  const checked = envCheck(env, ENV.tlsFd);
  if (checked.bad !== undefined) throw new TempError(`${TLS_FD_VARIABLE}=${checked.bad} is not a descriptor`);
  if (checked.value === undefined) return undefined;
  const fd = checked.value;
  try {
    const size = fstatSync(fd).size;
    if (size === 0 || size > MAX_MATERIAL_OCTETS) throw new TempError(`${TLS_FD_VARIABLE}: ${size} octets of key material`);
    const material = Buffer.alloc(size);
    // pread from 0: every session shares the file's offset.
    for (let got = 0; got < size;) {
      const n = readSync(fd, material, got, size - got, got);
      if (n === 0) throw new TempError(`${TLS_FD_VARIABLE}: key material truncated`);
      got += n;
    }
    return material;
  } catch (e) {
    if (e instanceof TempError) throw e;
    throw new TempError(`unable to read the key material on descriptor ${fd}: ${describeSysError(e)}`);
  } finally {
    try {
      closeSync(fd);
    } catch {
      // not open: reported above
    }
  }
}
