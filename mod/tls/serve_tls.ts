/**
 * serve --tls's setup, done before privileges are dropped (the key is usually readable
 * by root only): the certificate and key from CERTFILE/KEYFILE (or the config file's
 * tls-server-cert-file/tls-private-key-file), TLS version, ciphers and handshake timeout
 * from the same policy options popup uses; SIGHUP re-reads the files (running sessions
 * keep theirs; a failed reload keeps the old certificate and says why).
 */
import { TempError } from "../cli/errors.ts";
import { resolvePolicy } from "../policy/resolve.ts";
import { TlsContextHolder } from "./context.ts";

type Env = Readonly<Record<string, string | undefined>>;

export interface ServeTls {
  holder: TlsContextHolder;
  handshakeTimeoutMs: number;
}

/** Reads the certificate now; throws TempError (no certificate, unreadable, unusable). */
export function setupServeTls(env: Env, onReloadError: (message: string) => void): ServeTls {
  const { policy } = resolvePolicy([], env);
  if (policy.certFile === undefined) throw new TempError("--tls needs a certificate: set CERTFILE (and KEYFILE unless CERTFILE holds the key)");
  const holder = new TlsContextHolder({ certFile: policy.certFile, keyFile: policy.keyFile, minVersion: policy.tlsMinVersion, ciphers: policy.tlsCiphers });
  process.on("SIGHUP", () => {
    try {
      holder.reload();
    } catch (e) {
      onReloadError(`keeping the old certificate: ${(e as Error).message}`);
    }
  });
  return { holder, handshakeTimeoutMs: policy.tlsHandshakeTimeoutMs };
}
