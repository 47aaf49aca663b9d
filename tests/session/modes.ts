/**
 * The POP3 session under each host, for tests that must hold in every mode: the classic
 * chain behind `serve` (popup checking and serving in one process, and with
 * POPPIN_ONE_PROCESS=0 the real checkpassword and pop3d processes) and `serve --inline`.
 * Virtual users (-u), as tests/standalone/harness.ts sets them up.
 */
import { POPPIN } from "../helpers.ts";
import { MAIL_GID, MAIL_UID, startServer, type Running } from "../standalone/harness.ts";

export type Mode = "classic" | "processes" | "inline";
export const MODES: readonly Mode[] = ["classic", "processes", "inline"];

export const CHAIN = [POPPIN, "popup", "mail.example", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"];

/** Starts serve in `mode` with `env` (POPPIN_USERDB, policy variables), the chain's popup flags in `popupFlags`. */
export function startMode(mode: Mode, env: Record<string, string>, popupFlags: string[] = [], pop3dArgs: string[] = ["Maildir"]): Promise<Running> {
  const chain = [POPPIN, "popup", ...popupFlags, "mail.example", POPPIN, "checkpassword", POPPIN, "pop3d", ...pop3dArgs];
  const serveFlags = mode === "inline" ? ["--inline"] : [];
  const modeEnv: Record<string, string> = mode === "processes" ? { POPPIN_ONE_PROCESS: "0" } : {};
  return startServer([POPPIN, "serve", ...serveFlags, "-v", "-R", "-H", "-1", "-u", String(MAIL_UID), "-g", String(MAIL_GID), "127.0.0.1", "0", ...chain], { ...env, ...modeEnv });
}
