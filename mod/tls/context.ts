/**
 * The server's TLS context from PEM files: the certificate (chain) and the key,
 * which may be one file holding both (CERTFILE alone, as ucspi-ssl allows). TLS 1.2
 * and 1.3 only by default (RFC 8996 retired 1.0 and 1.1); the cipher list for 1.2 is
 * Node's default (forward-secret AEAD first) unless configured.
 */
import { CHANNEL_BINDING_VARIABLES, channelBindingData } from "./channel_binding.ts";
import type { ChannelBindingType } from "../sasl/scram.ts";
import { readFileSync } from "node:fs";
import type tls from "node:tls";
import { nodeTls } from "../sys/builtins.ts";
import { TempError, describeSysError } from "../cli/errors.ts";

export interface TlsFiles {
  certFile: string;
  /** Defaults to certFile (one PEM holding both). */
  keyFile?: string;
  minVersion?: "TLSv1.2" | "TLSv1.3";
  ciphers?: string;
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new TempError(`unable to read ${what} ${file}: ${describeSysError(e)}`);
  }
}

/**
 * TLS 1.2 suites offered unless tls-cipher-list says otherwise: forward secrecy and AEAD
 * only (no TLS_RSA_* key exchange, no CBC/SHA1), in our order. TLS 1.3's suites are all
 * modern and stay OpenSSL's defaults.
 */
export const DEFAULT_TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20";

/** Reads the files and builds the context; throws TempError naming the file when one is missing or bad. */
export function loadTlsContext(files: TlsFiles): tls.SecureContext {
  const cert = readPem(files.certFile, "certificate");
  const key = files.keyFile === undefined || files.keyFile === files.certFile ? cert : readPem(files.keyFile, "key");
  try {
    return nodeTls().createSecureContext({
      cert,
      key,
      minVersion: files.minVersion ?? "TLSv1.2",
      ciphers: files.ciphers ?? DEFAULT_TLS12_CIPHERS,
      honorCipherOrder: true,
    });
  } catch (e) {
    throw new TempError(`unable to use certificate ${files.certFile} with key ${files.keyFile ?? files.certFile}: ${(e as Error).message}`);
  }
}

/**
 * The context for new connections, re-read on demand (serve calls reload() on SIGHUP):
 * a failed reload keeps the old context, so a typo in a renewed certificate does not
 * stop the service; sessions already running keep theirs.
 */
export class TlsContextHolder {
  #context: tls.SecureContext;
  readonly #files: TlsFiles;

  constructor(files: TlsFiles) {
    this.#files = files;
    this.#context = loadTlsContext(files);
  }

  get context(): tls.SecureContext {
    return this.#context;
  }

  /** Re-reads the files; throws (keeping the old context) when they are unusable. */
  reload(): void {
    this.#context = loadTlsContext(this.#files);
  }
}

/**
 * ucspi-ssl's variables for the program behind TLS, plus the connection's channel-binding
 * data (base64) for SCRAM-...-PLUS in popup, which sees only the relayed plain text.
 */
export function tlsEnvironment(sock: tls.TLSSocket): Record<string, string> {
  const env: Record<string, string> = {};
  const protocol = sock.getProtocol();
  const cipher = sock.getCipher();
  if (protocol) env.SSL_PROTOCOL = protocol;
  if (cipher?.name) env.SSL_CIPHER = cipher.standardName ?? cipher.name;
  for (const [type, name] of Object.entries(CHANNEL_BINDING_VARIABLES) as [ChannelBindingType, string][]) {
    const data = channelBindingData(sock, type);
    if (data !== undefined) env[name] = Buffer.from(data).toString("base64");
  }
  return env;
}
