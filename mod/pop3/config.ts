/**
 * Settings the POP3 applets read from the environment, in one place:
 * POPPIN_TIMEOUT (seconds, popup and pop3d alike), POPPIN_COMPAT=qmail (pop3d),
 * POPPIN_APOP and POPPIN_APOP_SECRETS (whether popup offers APOP).
 */
import { DEFAULT_TIMEOUT_SECONDS } from "./limits.ts";
import type { Compat } from "./maildir_mailbox.ts";

type Env = Readonly<Record<string, string | undefined>>;

/** The read/write timeout in milliseconds: POPPIN_TIMEOUT seconds when a positive whole number, else qmail's 1200 s. */
export function timeoutMs(env: Env): number {
  const text = env.POPPIN_TIMEOUT;
  if (text !== undefined && /^[0-9]{1,9}$/.test(text) && Number(text) > 0) return Number(text) * 1000;
  return DEFAULT_TIMEOUT_SECONDS * 1000;
}

/** Whether POPPIN_TIMEOUT is set to something unusable (the applet warns and uses the default). */
export function timeoutInvalid(env: Env): boolean {
  const text = env.POPPIN_TIMEOUT;
  return text !== undefined && text !== "" && !(/^[0-9]{1,9}$/.test(text) && Number(text) > 0);
}

/**
 * Whether popup offers APOP (the `<timestamp>` in its greeting): POPPIN_APOP=1 forces it on,
 * POPPIN_APOP=0 off; unset, it is on exactly when POPPIN_APOP_SECRETS names a secrets file,
 * the one source of APOP secrets for system accounts. Offering APOP when no secret can
 * verify it locks out clients such as curl that always answer a timestamp with APOP.
 */
export function apopOffered(env: Env): boolean {
  if (env.POPPIN_APOP === "1") return true;
  if (env.POPPIN_APOP === "0") return false;
  return (env.POPPIN_APOP_SECRETS ?? "") !== "";
}

/** pop3d's compatibility mode from its option or POPPIN_COMPAT ("qmail"); the option wins. */
export function compatFrom(option: string | undefined, env: Env): Compat | undefined {
  const value = option ?? env.POPPIN_COMPAT;
  if (value === undefined || value === "" || value === "rfc") return "rfc";
  if (value === "qmail") return "qmail";
  return undefined;
}
