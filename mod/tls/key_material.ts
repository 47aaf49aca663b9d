/**
 * TLS key material as bytes: the certificate chain and the private key in one PEM blob
 * (as ucspi-ssl's CERTFILE may hold both). The privileged side reads the files once; a
 * session started by serve gets the blob through an inherited descriptor named by
 * POPPIN_TLS_FD (a sealed memory file, mod/sys/sealed_file.ts), never the paths, so a
 * session running as an unprivileged uid can use a key only root can read, and a SIGHUP
 * that found a bad file leaves every new session on the old certificate.
 */
import { closeSync, fstatSync, readFileSync, readSync } from "node:fs";
import type tls from "node:tls";
import { TempError, describeSysError } from "../cli/errors.ts";
import { nodeTls } from "../sys/builtins.ts";

/** The variable naming the descriptor that holds the material (set by serve for popup). */
export const TLS_FD_VARIABLE = "POPPIN_TLS_FD";
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
    throw new TempError(`unable to use certificate ${files.certFile} with key ${files.keyFile ?? files.certFile}: ${(e as Error).message}`);
  }
}

/**
 * The material serve passed on the descriptor POPPIN_TLS_FD names (undefined when it names
 * none). The descriptor is closed here, whatever happens: the programs this one runs never
 * inherit it. TempError when it cannot be read.
 */
export function materialFromEnv(env: NodeJS.ProcessEnv): Buffer | undefined {
  const text = env[TLS_FD_VARIABLE];
  if (text === undefined || text === "") return undefined;
  if (!/^[0-9]{1,4}$/.test(text)) throw new TempError(`${TLS_FD_VARIABLE}=${text} is not a descriptor`);
  const fd = Number(text);
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
