/**
 * Debian's Dovecot (pop3 only) as one more host for the campaign: its answers' meaning
 * (+OK or -ERR) and which mail it deletes are compared with poppin's, never its text. One
 * virtual user per account of the pool (passwd-file, a SHA-512 crypt hash of the same
 * password), Maildirs at ~/Maildir, UIDLs as qmail's (%f), no failure delay.
 */
import { chmodSync } from "node:fs";
import { run, tempDir } from "../../../tests/helpers.ts";
import { freePort } from "../../../tests/pop3/conversation.ts";
import { startDovecot } from "../../../bench/dovecot_harness.ts";
import type { Account } from "../../../tests/session/modes.ts";

export interface DovecotHost {
  port: number;
  stop(): Promise<void>;
}

export async function startDovecotHost(accounts: Account[], password: string): Promise<DovecotHost> {
  const root = tempDir("parity-dovecot");
  chmodSync(root, 0o755); // Dovecot's auth process (its own user) reads the passwd-file
  const hash = run(["openssl", "passwd", "-6", password]).out.trim();
  const users = accounts.map((a) => ({ login: a.login, hash, uid: a.uid, gid: a.gid, home: a.home }));
  return startDovecot({ root, port: await freePort(), users, authFailureDelay: "0" });
}

/** The answers' meaning: one character per status line (+ for +OK, - for -ERR, c for a SASL continuation). */
export function meaning(text: string): string {
  return (text.match(/^(\+OK|-ERR|\+ |\+\r)/gm) ?? []).map((s) => (s === "+OK" ? "+" : s === "-ERR" ? "-" : "c")).join("");
}

/** Which messages are left (their unique names, wherever they are and whatever their flags). */
export function remaining(state: string[]): string {
  return state.map((p) => p.replace(/^(new|cur)\//, "").replace(/:.*$/, "")).filter((n) => !n.startsWith("dovecot")).sort().join(" ");
}
