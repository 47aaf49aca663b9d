/**
 * Every policy option of the POP3 service, in one table: its Qpopper name (the
 * config-file and `--name=value` flag spelling), its type, its default and the
 * environment variable that carries it down the chain (popup exports the resolved
 * values, so pop3d behind checkpassword sees the same settings without re-reading
 * the file). Names follow Qpopper's where Qpopper has the option.
 */
import { ENV, optionVariable } from "../base/env.ts";

export type OptionKind = "bool" | "number" | "string" | "choice";

export interface OptionSpec {
  readonly name: string;
  readonly kind: OptionKind;
  /** The value when nothing sets it (strings; "" = unset). */
  readonly fallback: string;
  /** Environment variable carrying the value (POPPIN_*; ucspi-ssl's CERTFILE/KEYFILE for the certificate). */
  readonly env: string;
  readonly choices?: readonly string[];
  /** Inclusive bounds of a number (numbers may have a fraction when `fraction`). */
  readonly min?: number;
  readonly max?: number;
  readonly fraction?: boolean;
  readonly help: string;
}

function opt(spec: Omit<OptionSpec, "env"> & { env?: string }): OptionSpec {
  return { ...spec, env: spec.env ?? optionVariable(spec.name) };
}

export const CLEAR_TEXT_MODES = ["default", "never", "always", "local", "tls"] as const;
export type ClearTextMode = (typeof CLEAR_TEXT_MODES)[number];

export const OPTION_SPECS: readonly OptionSpec[] = [
  opt({ name: "tls-server-cert-file", kind: "string", fallback: "", env: "CERTFILE", help: "PEM certificate (chain); may hold the key too" }),
  opt({ name: "tls-private-key-file", kind: "string", fallback: "", env: "KEYFILE", help: "PEM private key (default: the certificate file)" }),
  opt({ name: "tls-version", kind: "choice", fallback: "default", choices: ["default", "tlsv1.2", "tlsv1.3"], help: "lowest TLS version (default: TLS 1.2)" }),
  opt({ name: "tls-cipher-list", kind: "string", fallback: "", help: "OpenSSL cipher list for TLS 1.2 (default: Node's modern list)" }),
  opt({ name: "tls-handshake-timeout", kind: "number", fallback: "30", min: 1, max: 3600, help: "seconds allowed for a TLS handshake" }),
  opt({ name: "clear-text-password", kind: "choice", fallback: "default", choices: CLEAR_TEXT_MODES, help: "when USER/PASS and AUTH PLAIN are allowed (default: with a certificate, only over TLS or from this host; always: everywhere)" }),
  opt({ name: "sasl-login", kind: "bool", fallback: "0", help: "offer SASL LOGIN besides PLAIN (Dovecot's auth_mechanisms = plain login), where clear-text passwords are allowed" }),
  opt({ name: "apop", kind: "bool", fallback: "", help: "offer APOP (default: when POPPIN_APOP_SECRETS is set)" }),
  opt({ name: "auth-file", kind: "string", fallback: "", help: "only the users listed in this file may log in" }),
  opt({ name: "nonauth-file", kind: "string", fallback: "", help: "the users listed in this file may not log in" }),
  opt({ name: "downcase-user", kind: "bool", fallback: "0", help: "lower-case the user name before checking it" }),
  opt({ name: "trim-domain", kind: "bool", fallback: "0", help: "strip @domain (and %domain) from the user name" }),
  opt({ name: "min-uid", kind: "number", fallback: "", env: ENV.minUid.name, min: 0, max: 4294967295, help: "lowest uid a system account may have (checkpassword's POPPIN_MIN_UID, default 1000; virtual accounts: uid 0 is refused unless 0)" }),
  opt({ name: "timeout", kind: "number", fallback: "1200", min: 1, max: 999999999, help: "read timeout in seconds" }),
  opt({ name: "auto-delete", kind: "bool", fallback: "0", help: "delete each message once retrieved (RETR)" }),
  opt({ name: "announce-login-delay", kind: "number", fallback: "", min: 0, max: 999999999, help: "seconds between logins, announced (LOGIN-DELAY) and enforced" }),
  opt({ name: "announce-expire", kind: "string", fallback: "", help: "days messages stay (EXPIRE), or never; 0 deletes on retrieval" }),
  opt({ name: "shy", kind: "bool", fallback: "0", help: "no version in the greeting or IMPLEMENTATION" }),
  opt({ name: "update-on-abort", kind: "bool", fallback: "0", help: "remove messages marked deleted when the session breaks off" }),
  opt({ name: "log-login", kind: "string", fallback: "", help: "log each login with this format (%0 user, %1 host, %2 IP, %3 server IP, %4 mechanism)" }),
  opt({ name: "statistics", kind: "bool", fallback: "0", help: "log one statistics line per session" }),
  opt({ name: "bulletins", kind: "string", fallback: "", help: "bulletin directory" }),
  opt({ name: "max-bulletins", kind: "number", fallback: "1", min: 0, max: 1000000, help: "bulletins a new user gets (the newest)" }),
  opt({ name: "auth-failure-delay", kind: "number", fallback: "2", min: 0, max: 600, fraction: true, help: "seconds from a failed login to its answer (the check's own time counts)" }),
  opt({ name: "auth-failure-dir", kind: "string", fallback: "", help: "directory of per-address failure counts (enables the limit)" }),
  opt({ name: "auth-failure-limit", kind: "number", fallback: "10", min: 1, max: 1000000, help: "failed logins from one address per window" }),
  opt({ name: "auth-failure-window", kind: "number", fallback: "600", min: 1, max: 86400 * 30, help: "seconds the per-address count lasts" }),
  opt({ name: "mailbox-lock", kind: "choice", fallback: "session", choices: ["session", "none"], help: "session: a second session is refused [IN-USE]; none: qmail's lock-free" }),
  opt({ name: "config-file", kind: "string", fallback: "", env: ENV.config.name, help: "read more options from this file" }),
];

const BY_NAME = new Map(OPTION_SPECS.map((s) => [s.name, s]));

export function optionSpec(name: string): OptionSpec | undefined {
  return BY_NAME.get(name);
}

/** Checks a value against its spec; returns the normalised value, or why it is bad. */
export function checkValue(spec: OptionSpec, value: string): { value: string } | { error: string } {
  switch (spec.kind) {
    case "bool": {
      const v = value.toLowerCase();
      if (["1", "true", "yes", "on"].includes(v)) return { value: "1" };
      if (["0", "false", "no", "off"].includes(v)) return { value: "0" };
      return { error: `${spec.name} wants true or false, not ${JSON.stringify(value)}` };
    }
    case "number": {
      const re = spec.fraction ? /^[0-9]{1,9}(\.[0-9]{1,6})?$/ : /^[0-9]{1,10}$/;
      const n = Number(value);
      if (!re.test(value) || n < (spec.min ?? 0) || n > (spec.max ?? Number.MAX_SAFE_INTEGER)) {
        return { error: `${spec.name} wants ${spec.fraction ? "a number" : "a whole number"} from ${spec.min ?? 0} to ${spec.max}, not ${JSON.stringify(value)}` };
      }
      return { value: String(n) };
    }
    case "choice": {
      const v = value.toLowerCase();
      if (spec.choices!.includes(v)) return { value: v };
      return { error: `${spec.name} wants one of ${spec.choices!.join(", ")}, not ${JSON.stringify(value)}` };
    }
    case "string":
      if (value.includes("\0") || value.includes("\n")) return { error: `${spec.name}: the value holds a NUL or newline` };
      if (spec.name === "announce-expire" && value !== "" && value.toLowerCase() !== "never" && !/^[0-9]{1,6}$/.test(value)) {
        return { error: `announce-expire wants a number of days or never, not ${JSON.stringify(value)}` };
      }
      return { value: spec.name === "announce-expire" ? value.toLowerCase() : value };
  }
}
