/**
 * The POP3 session under each host, for tests that must hold in every mode: the classic
 * chain behind `serve` (popup checking and serving in one process, and with
 * POPPIN_ONE_PROCESS=0 the real checkpassword and pop3d processes) and `serve --inline`.
 * Virtual users (-u), as tests/standalone/harness.ts sets them up; and below, the matrix of
 * modes x kinds of user (system accounts with serve as root, virtual users with -u).
 */
import { randomBytes } from "node:crypto";
import { appendFileSync, chmodSync, chownSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, run, runAccountTool, tempDir } from "../helpers.ts";
import { makeMaildir } from "../pop3/conversation.ts";
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

// ---------------------------------------------------------------------------------------------
// The matrix: every mode x both kinds of user. System users are real accounts (useradd, a
// yescrypt hash in /etc/shadow set by chpasswd, ~/Maildir owned by them) served by a serve
// that stays root; virtual users live in a poppin user database and serve runs with -u/-g
// the mail uid. One pool of accounts per test file; every case makes its own account, so
// cases of one combination can share a server and run concurrently.

export type Kind = "system" | "virtual";
export const KINDS: readonly Kind[] = ["system", "virtual"];
export interface Combo {
  mode: Mode;
  kind: Kind;
  /** "classic x system" ... */
  name: string;
}
export const MATRIX: readonly Combo[] = MODES.flatMap((mode) => KINDS.map((kind) => ({ mode, kind, name: `${mode} x ${kind}` })));
/** The combination a case's transcript is compared with, byte for byte. */
export const REFERENCE: Combo = MATRIX.find((c) => c.mode === "classic" && c.kind === "virtual")!;

/** One password for every account (punctuation in it, as a real one has). */
export const PASSWORD = "Open.Sesame-42";

export interface Account {
  kind: Kind;
  login: string;
  uid: number;
  gid: number;
  home: string;
  maildir: string;
  /** The account's APOP secret. */
  apopSecret: string;
}

/** Accounts of both kinds for one test file, and the servers that serve them (stopped, and the system accounts removed, by `close`). */
export class AccountPool {
  readonly base: string;
  readonly userdb: string;
  readonly apopSecrets: string;
  readonly servers: Running[] = [];
  readonly #systemUsers: string[] = [];
  readonly #shared = new Map<string, Promise<Running>>();
  #serial = 0;

  constructor(label: string) {
    this.base = tempDir(label);
    chmodSync(this.base, 0o755);
    this.userdb = join(this.base, "users");
    writeFileSync(this.userdb, "");
    chownSync(this.userdb, MAIL_UID, MAIL_GID);
    this.apopSecrets = join(this.base, "apop-secrets");
    writeFileSync(this.apopSecrets, "", { mode: 0o600 });
  }

  /** A new account of `kind` with `messages` in ~/Maildir/new (fixed names: the same UIDLs in every combination). */
  account(kind: Kind, messages: (string | Uint8Array)[] = [], opts: { maildir?: boolean } = {}): Account {
    const serial = ++this.#serial;
    const apopSecret = `apop-${serial}-${randomBytes(4).toString("hex")}`;
    let acct: Account;
    if (kind === "system") {
      const login = `pm${randomBytes(3).toString("hex")}${serial}`;
      const home = join(this.base, login);
      mustRun(["useradd", "-M", "-d", home, "-s", "/usr/sbin/nologin", "-U", login], "useradd");
      this.#systemUsers.push(login);
      mustRun(["chpasswd", "-c", "YESCRYPT"], "chpasswd", `${login}:${PASSWORD}\n`);
      const id = (flag: string) => Number(run(["id", flag, login]).out.trim());
      acct = { kind, login, uid: id("-u"), gid: id("-g"), home, maildir: join(home, "Maildir"), apopSecret };
      appendFileSync(this.apopSecrets, `${login}:${apopSecret}\n`);
    } else {
      const login = `v${serial}user`;
      const home = join(this.base, login);
      mustRun([POPPIN, "users", "-f", this.userdb, "add", "--apop", login, String(MAIL_UID), String(MAIL_GID), home], "users add", `${PASSWORD}\n${apopSecret}\n`);
      acct = { kind, login, uid: MAIL_UID, gid: MAIL_GID, home, maildir: join(home, "Maildir"), apopSecret };
    }
    mkdirSync(acct.home, { mode: 0o755 });
    if (opts.maildir !== false) makeMaildir(acct.home, messages);
    this.chown(acct, acct.home);
    return acct;
  }

  /** Gives `path` (recursively) to the account. */
  chown(acct: Account, path: string): void {
    chownSync(path, acct.uid, acct.gid);
    if (statSync(path).isDirectory()) for (const name of readdirSync(path)) this.chown(acct, join(path, name));
  }

  /**
   * The environment and serve flags a combination's server needs for this pool's accounts
   * (POPPIN_APOP_SECRETS for both kinds: APOP offered, so every greeting has a timestamp).
   */
  #serveFor(kind: Kind): { env: Record<string, string>; flags: string[] } {
    return kind === "system"
      ? { env: { POPPIN_APOP_SECRETS: this.apopSecrets }, flags: [] }
      : { env: { POPPIN_USERDB: this.userdb, POPPIN_APOP_SECRETS: this.apopSecrets }, flags: ["-u", String(MAIL_UID), "-g", String(MAIL_GID)] };
  }

  /** serve's command line and environment for `combo` (-v -R -H -1, 127.0.0.1, port 0) with the chain's popup flags and pop3d arguments. */
  commandLine(combo: Combo, opts: StartOptions = {}): { argv: string[]; env: Record<string, string> } {
    const chain = [POPPIN, "popup", ...(opts.popupFlags ?? []), "mail.example", POPPIN, "checkpassword", POPPIN, "pop3d", ...(opts.pop3dArgs ?? ["Maildir"])];
    const { env, flags } = this.#serveFor(combo.kind);
    return {
      argv: [POPPIN, "serve", ...(combo.mode === "inline" ? ["--inline"] : []), "-v", "-R", "-H", "-1", ...flags, ...(opts.serveFlags ?? []), "127.0.0.1", "0", ...chain],
      env: { POPPIN_AUTH_FAILURE_DELAY: "0", ...env, ...(combo.mode === "processes" ? { POPPIN_ONE_PROCESS: "0" } : {}), ...opts.env },
    };
  }

  /** Starts serve for `combo` (see commandLine). */
  async start(combo: Combo, opts: StartOptions = {}): Promise<Running> {
    const { argv, env } = this.commandLine(combo, opts);
    const server = await startServer(argv, env);
    this.servers.push(server);
    return server;
  }

  /** One server per combination and `key` (same options), started on first use. */
  shared(combo: Combo, key = "plain", opts: StartOptions = {}): Promise<Running> {
    const id = `${combo.name}/${key}`;
    let s = this.#shared.get(id);
    if (s === undefined) {
      s = this.start(combo, opts);
      this.#shared.set(id, s);
    }
    return s;
  }

  /**
   * What this pool's servers logged beyond routine connection lines (status, pid, ok, end,
   * done, login lines): printed with a failing case, so a crash or a refusal shows its cause.
   */
  unusualLog(): string {
    const routine = /tcpserver: (status|pid|ok|end \d+ status 0$|done)|: (info|warning): (end=|login |mailbox in use|login delay)|^\s*$/;
    return this.servers.flatMap((s) => s.log().split("\n").filter((l) => !routine.test(l))).slice(-60).join("\n");
  }

  async close(): Promise<void> {
    // All at once, and SIGKILL after 2 s: a server still serving a session would wait up to 60 s
    // for it after SIGTERM, longer than the test file's cleanup lasts, and stay as an orphan.
    await Promise.all(this.servers.filter((s) => s.proc.exitCode === null).map((s) => s.stop(2_000)));
    for (const name of this.#systemUsers.splice(0)) Bun.spawnSync(["userdel", "-f", name]);
  }
}

export interface StartOptions {
  popupFlags?: string[];
  pop3dArgs?: string[];
  serveFlags?: string[];
  env?: Record<string, string>;
}

const mustRun = runAccountTool;

/** The greeting's timestamp blanked (it differs per session). */
export function blankTimestamp(text: string): string {
  return text.replace(/^\+OK <[^>]*>/, "+OK <>");
}

const references = new Map<string, Promise<string>>();
/**
 * What the reference combination (classic chain, virtual users) answers to the same case, run
 * once on an account of its own: `run` gets the pool's shared server for REFERENCE and a fresh
 * account and returns the transcript to compare.
 */
export function reference(pool: AccountPool, key: string, runCase: (server: Running, acct: Account) => Promise<string>, messages: (string | Uint8Array)[], ref: Combo = REFERENCE, opts: StartOptions = {}): Promise<string> {
  const id = `${pool.base}/${ref.name}/${key}`;
  let r = references.get(id);
  if (r === undefined) {
    r = pool.shared(ref, `reference:${key}`, opts).then((server) => runCase(server, pool.account(ref.kind, messages)));
    references.set(id, r);
  }
  return r;
}

/** A case that fails in some combinations today: the test asserts what happens now instead (see each file's KNOWN_GAPS). */
export interface KnownGap {
  mode: Mode;
  kind: Kind;
  /** The case's id in its file. */
  case: string;
  /** What happens today, in a sentence. */
  now: string;
}

/** Whether `combo` runs case `id` as a known gap (asserting today's behaviour) instead of the expectation. */
export function knownGap(gaps: readonly KnownGap[], combo: Combo, id: string): KnownGap | undefined {
  return gaps.find((g) => g.mode === combo.mode && g.kind === combo.kind && g.case === id);
}

/**
 * At most `n` cases of a file at once: the matrix starts dozens of servers (each a runtime, some
 * with crypt helpers), more than two shared cores serve well at a time.
 */
export function gate(n: number, pool?: AccountPool): <T>(fn: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    while (running >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await fn();
    } catch (e) {
      if (pool !== undefined && e instanceof Error) e.message += `\n--- what the servers logged beyond routine lines:\n${pool.unusualLog()}`;
      throw e;
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}
