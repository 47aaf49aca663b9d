/**
 * Settings the POP3 applets read from the environment, in one place:
 * POPPIN_TIMEOUT (seconds, popup and pop3d alike), POPPIN_COMPAT=qmail (pop3d),
 * POPPIN_APOP and POPPIN_APOP_SECRETS (whether popup offers APOP).
 */
import { ENV, envCheck, envValue } from "../base/env.ts";
import { logValue } from "../base/log_value.ts";
import type { Compat } from "./maildir_mailbox.ts";

type Env = Readonly<Record<string, string | undefined>>;

/** The read/write timeout in milliseconds: POPPIN_TIMEOUT seconds when a positive whole number, else qmail's 1200 s. */
export function timeoutMs(env: Env): number {
  return envValue(env, ENV.timeout) * 1000;
}

/** Whether POPPIN_TIMEOUT is set to something unusable (the applet warns and uses the default). */
export function timeoutInvalid(env: Env): boolean {
  return envCheck(env, ENV.timeout).bad !== undefined;
}

/** The warning when POPPIN_TIMEOUT is set to something unusable (the default applies then), or undefined. */
export function timeoutWarning(env: Env): string | undefined {
  const bad = envCheck(env, ENV.timeout).bad;
  return bad === undefined ? undefined : `ignoring ${ENV.timeout.name}=${logValue(bad)}: not ${ENV.timeout.expected}`;
}

/**
 * Whether popup offers APOP (the `<timestamp>` in its greeting): POPPIN_APOP=1 forces it on,
 * POPPIN_APOP=0 off; unset, it is on exactly when POPPIN_APOP_SECRETS names a secrets file,
 * the one source of APOP secrets for system accounts. Offering APOP when no secret can
 * verify it locks out clients such as curl that always answer a timestamp with APOP.
 */
export function apopOffered(env: Env): boolean {
  return envValue(env, ENV.apop) ?? envValue(env, ENV.apopSecrets) !== undefined;
}

/** pop3d's compatibility mode from its option or POPPIN_COMPAT ("qmail"); the option wins. */
export function compatFrom(option: string | undefined, env: Env): Compat | undefined {
  if (option !== undefined) return option === "" ? ENV.compat.fallback : ENV.compat.parse(option);
  const checked = envCheck(env, ENV.compat);
  return checked.bad === undefined ? checked.value : undefined;
}
