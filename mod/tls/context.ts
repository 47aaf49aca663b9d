/**
 * The server's TLS context from PEM files: the certificate (chain) and the key,
 * which may be one file holding both (CERTFILE alone, as ucspi-ssl allows). TLS 1.2
 * and 1.3 only by default (RFC 8996 retired 1.0 and 1.1); the cipher list for 1.2 is
 * forward-secret AEAD unless configured (key_material.ts).
 */
import { CHANNEL_BINDING_VARIABLES, channelBindingData } from "./channel_binding.ts";
import type { ChannelBindingType } from "../sasl/scram.ts";
import { closeSync } from "node:fs";
import type tls from "node:tls";
import { sealedFile } from "../sys/sealed_file.ts";
import { contextFromMaterial, readMaterial, type TlsFiles } from "./key_material.ts";
import { KeyReader } from "./key_reader.ts";

export { DEFAULT_TLS12_CIPHERS, type TlsFiles } from "./key_material.ts";

/** Reads the files and builds the context; throws TempError naming the file when one is missing or bad. */
export function loadTlsContext(files: TlsFiles): tls.SecureContext {
  return contextFromMaterial(readMaterial(files), files);
}

/**
 * The context for new connections, and its material for the sessions serve starts
 * (materialFd), re-read on demand (serve calls reload() on SIGHUP): a failed reload keeps
 * the old context and material, so a typo in a renewed certificate does not stop the
 * service; sessions already running keep theirs. Once serve dropped its privileges, a
 * reload goes through the key reader started before (key_reader.ts).
 */
export class TlsContextHolder {
  #context: tls.SecureContext;
  #material: Buffer;
  #fd: number | undefined;
  #reader: KeyReader | undefined;
  readonly #files: TlsFiles;

  constructor(files: TlsFiles) {
    this.#files = files;
    this.#material = readMaterial(files);
    this.#context = contextFromMaterial(this.#material, files);
  }

  get context(): tls.SecureContext {
    return this.#context;
  }

  /** Before serve drops its privileges: later reloads read the files with today's (root) rights. */
  keepReader(execPath: string): void {
    this.#reader ??= KeyReader.start(execPath, this.#files.certFile, this.#files.keyFile);
  }

  /** Re-reads the files; throws (keeping the old context and material) when they are unusable. */
  async reload(): Promise<void> {
    const material = this.#reader ? await this.#reader.read() : readMaterial(this.#files);
    const context = contextFromMaterial(material, this.#files);
    this.#material.fill(0);
    this.#material = material;
    this.#context = context;
    if (this.#fd !== undefined) closeSync(this.#fd); // sessions started already hold their own copy
    this.#fd = undefined;
  }

  /** A sealed memory file with the material, to hand to a session as POPPIN_TLS_FD (made on first use). */
  materialFd(): number {
    this.#fd ??= sealedFile("poppin-tls", this.#material);
    return this.#fd;
  }

  close(): void {
    this.#reader?.close();
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
