/**
 * The login policy the POP3 engine asks (mod/pop3/authorization.ts LoginPolicy),
 * from the resolved options and the connection: Qpopper's clear-text-password modes
 * and what CAPA announces. The default refuses clear-text passwords on unencrypted
 * connections from other hosts when a certificate is configured; `always` allows them.
 */
import { TEXT } from "../pop3/responses.ts";
import type { LoginPolicy } from "../pop3/authorization.ts";
import type { Policy } from "./resolve.ts";

/**
 * The default's refusal on an unencrypted connection from elsewhere when a certificate is
 * configured: Dovecot's disable_plaintext_auth wording, plus what to do.
 */
export const PLAINTEXT_DISALLOWED: string = TEXT.plaintextDisallowed;

/** Loopback addresses (Qpopper's "local": connections from this host). */
export function isLoopback(ip: string): boolean {
  const v = ip.startsWith("::ffff:") ? ip.slice(7) : ip;
  return v.startsWith("127.") || v === "::1";
}

export function loginPolicy(policy: Policy, remoteIp: string, stlsAvailable: boolean): LoginPolicy {
  const mode = policy.clearText;
  const local = isLoopback(remoteIp);
  return {
    stls: stlsAvailable,
    loginDelay: policy.loginDelaySeconds,
    expire: policy.expire,
    shy: policy.shy,
    saslLogin: policy.saslLogin,
    clearTextRefusal(tls: boolean): string | undefined {
      switch (mode) {
        case "default":
          // As Dovecot's disable_plaintext_auth: once STLS can be had, a password from
          // another host waits for it; loopback (a local client, a proxy) stays allowed.
          return tls || local || !stlsAvailable ? undefined : PLAINTEXT_DISALLOWED;
        case "always":
          return undefined;
        case "never":
          return TEXT.clearTextNever;
        case "local":
          return local ? undefined : TEXT.clearTextLocalOnly;
        case "tls":
          if (tls) return undefined;
          return stlsAvailable ? TEXT.clearTextSendStls : TEXT.clearTextNoTls;
      }
    },
  };
}
