/**
 * serve's certificates, read before privileges are dropped (the key is usually readable by
 * root only): for --tls, from CERTFILE/KEYFILE (or the config file's tls-server-cert-file/
 * tls-private-key-file), with TLS version, ciphers and handshake timeout from the same
 * policy options popup uses; for popup's STLS, from popup's own options. SIGHUP re-reads
 * the files (through a key reader that keeps root's rights when serve drops them); running
 * sessions keep theirs, and a failed reload keeps the old certificate and says why.
 */
import { TempError } from "../cli/errors.ts";
import { resolvePolicy, type Policy } from "../policy/resolve.ts";
import { TlsContextHolder } from "./context.ts";

type Env = Readonly<Record<string, string | undefined>>;

export interface ServeTls {
  holder: TlsContextHolder;
  handshakeTimeoutMs: number;
}

/** The holder for `policy`'s certificate (undefined when it names none); SIGHUP reloads it. */
export function policyTls(policy: Policy, what: string, onReloadError: (message: string) => void): ServeTls | undefined {
  if (policy.certFile === undefined) return undefined;
  const holder = new TlsContextHolder({ certFile: policy.certFile, keyFile: policy.keyFile, minVersion: policy.tlsMinVersion, ciphers: policy.tlsCiphers });
  process.on("SIGHUP", () => {
    holder.reload().catch((e) => onReloadError(`keeping the old ${what}: ${(e as Error).message}`));
  });
  return { holder, handshakeTimeoutMs: policy.tlsHandshakeTimeoutMs };
}

/** --tls: reads the certificate now; throws TempError (no certificate, unreadable, unusable). */
export function setupServeTls(env: Env, onReloadError: (message: string) => void): ServeTls {
  const { policy } = resolvePolicy([], env);
  const tls = policyTls(policy, "certificate", onReloadError);
  if (tls === undefined) throw new TempError("--tls needs a certificate: set CERTFILE (and KEYFILE unless CERTFILE holds the key)");
  return tls;
}

/**
 * Before serve drops to -u/-g as root: each holder keeps a key reader with root's rights,
 * so SIGHUP can still read a key only root can read.
 */
export function keepKeyReaders(holders: readonly (ServeTls | undefined)[], execPath: string, dropping: boolean, warn: (message: string) => void): void {
  if (!dropping || process.geteuid?.() !== 0) return;
  for (const tls of holders) {
    try {
      tls?.holder.keepReader(execPath);
    } catch (e) {
      warn(`unable to start the key reader (SIGHUP will read the certificate files with the dropped rights): ${(e as Error).message}`);
    }
  }
}
