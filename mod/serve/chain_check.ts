/**
 * The configuration of the chain serve runs (`popup NAME checkpassword pop3d Maildir`),
 * checked once, before serve accepts anything, and again on SIGHUP: popup's options and
 * config files, its certificate and key, checkpassword's user database and settings,
 * pop3d's arguments and Maildir name. Only poppin's own programs are checked (a foreign
 * program ends the check: its configuration is its own business).
 *
 * The same facts make `poppin config`'s listing. Every problem is one line that names the
 * program and, for a file, the file and the line.
 */
import { existsSync, readFileSync } from "node:fs";
import { basename } from "node:path";
import { ENV, envValue } from "../base/env.ts";
import { authConfigFromEnv, DEFAULT_MIN_UID, type AuthConfig } from "../auth/config.ts";
import { readProblem, type RunAccount } from "../auth/readable_by.ts";
import { isCdbPath } from "../auth/userdb.ts";
import { parseUserFile, UserLineError } from "../auth/userdb_text.ts";
import { CdbReader } from "../cdb/reader.ts";
import { PoppinError, describeSysError } from "../base/errors.ts";
import { parsePop3dArgs, type Pop3dArgs } from "../session/pop3d_args.ts";
import { CONFIG_CHECKED_VARIABLE, parsePolicyFlags, policyEnv, resolvePolicy, type Resolved } from "../policy/resolve.ts";
import { readUserList } from "../policy/user_policy.ts";
import { matchApplet, type Resolver } from "./chain_spec.ts";
import { loadTlsContext } from "../tls/context.ts";
import { isPoppinName } from "../base/self_name.ts";
import { oauthConfigFromEnv } from "../auth/oauth.ts";

type Env = Readonly<Record<string, string | undefined>>;

export interface PopupFacts {
  prefix: string;
  hostname: string | undefined;
  /** undefined when the options or the config file are broken (see problems). */
  resolved: Resolved | undefined;
}

export interface CheckpasswordFacts {
  prefix: string;
  config: AuthConfig | undefined;
  /** Where the user database was named: "flag --userdb", "environment POPPIN_USERDB", or undefined (system accounts). */
  userdbOrigin: string | undefined;
  minUidOrigin: string;
}

export interface Pop3dFacts {
  prefix: string;
  args: Pop3dArgs | undefined;
  compatOrigin: string;
}

export interface ChainCheck {
  /** One line per problem: "qmail-popup: /etc/poppin.conf line 3: unknown option ...". */
  problems: string[];
  popup?: PopupFacts;
  checkpassword?: CheckpasswordFacts;
  pop3d?: Pop3dFacts;
  /** Why the check stopped before the end of the chain (a program that is not poppin's). */
  foreign?: string;
  /**
   * Variables for the chain's environment: the checked config file's values and the
   * marker that tells popup and pop3d not to read the file again (resolve.ts).
   */
  snapshotEnv: Record<string, string>;
}

function errorText(e: unknown): string {
  if (e instanceof PoppinError) return e.message;
  throw e;
}

/** Reads the whole user database once: a text file line by line (the bad line named), a cdb by its header. */
export function checkUserDatabase(path: string): string | undefined {
  if (isCdbPath(path)) {
    let reader: CdbReader;
    try {
      reader = CdbReader.open(path);
    } catch (e) {
      // CdbReader's message already says "unable to read PATH: why": say it once.
      const why = (e as Error).message.replace(`unable to read ${path}: `, "");
      return `unable to read user database ${path}: ${why}`;
    }
    try {
      reader.find(new Uint8Array([0])); // reads the header and one table: a truncated file fails here
    } catch (e) {
      return `unable to read user database ${path}: ${(e as Error).message}`;
    } finally {
      reader.close();
    }
    return undefined;
  }
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    return `unable to read user database ${path}: ${describeSysError(e)}`;
  }
  try {
    parseUserFile(text);
  } catch (e) {
    if (e instanceof UserLineError) return `${path} ${e.message}`;
    throw e;
  }
  return undefined;
}

function checkPopup(argv: readonly string[], words: number, prefix: string, env: Env, out: ChainCheck): string[] | undefined {
  const after = argv.slice(words);
  let rest: string[];
  try {
    rest = parsePolicyFlags(after).rest;
  } catch (e) {
    out.problems.push(`${prefix}: ${errorText(e)}`);
    out.popup = { prefix, hostname: undefined, resolved: undefined };
    return undefined;
  }
  const facts: PopupFacts = { prefix, hostname: rest[0], resolved: undefined };
  out.popup = facts;
  try {
    facts.resolved = resolvePolicy(after, env);
  } catch (e) {
    out.problems.push(`${prefix}: ${errorText(e)}`);
  }
  if (rest[0] === undefined || rest[0] === "" || rest.length < 2) {
    out.problems.push(`${prefix}: needs a host name and the program to run (popup NAME checkpassword ...)`);
    return undefined;
  }
  const policy = facts.resolved?.policy;
  if (policy !== undefined) {
    if (policy.certFile !== undefined) {
      try {
        loadTlsContext({ certFile: policy.certFile, keyFile: policy.keyFile, minVersion: policy.tlsMinVersion, ciphers: policy.tlsCiphers });
      } catch (e) {
        out.problems.push(`${prefix}: ${errorText(e)}`);
      }
    }
    for (const list of [policy.authFile, policy.nonauthFile]) {
      if (list === undefined) continue;
      try {
        readUserList(list);
      } catch (e) {
        out.problems.push(`${prefix}: ${errorText(e)}`);
      }
    }
    const file = facts.resolved!.configFile;
    if (file !== undefined) out.snapshotEnv = { ...policyEnv(facts.resolved!.settings), [CONFIG_CHECKED_VARIABLE]: file };
  }
  return rest.slice(1);
}

function checkCheckpassword(argv: readonly string[], words: number, prefix: string, env: Env, out: ChainCheck, runAs: RunAccount | undefined): string[] {
  let i = words;
  let userdbOption: string | undefined;
  if (argv[i]?.startsWith("--userdb=")) userdbOption = argv[i++]!.slice("--userdb=".length);
  const facts: CheckpasswordFacts = {
    prefix,
    config: undefined,
    userdbOrigin: userdbOption !== undefined ? "flag --userdb" : envValue(env, ENV.userdb) !== undefined ? `environment ${ENV.userdb.name}` : undefined,
    minUidOrigin: (env[ENV.minUid.name] ?? "") !== "" ? `environment ${ENV.minUid.name}` : "default",
  };
  out.checkpassword = facts;
  try {
    facts.config = authConfigFromEnv(env as NodeJS.ProcessEnv, userdbOption);
  } catch (e) {
    out.problems.push(`${prefix}: ${errorText(e)}`);
    facts.config = { userdb: userdbOption ?? envValue(env, ENV.userdb), minUid: DEFAULT_MIN_UID, apopSecretsFile: envValue(env, ENV.apopSecrets), shadowFile: "/etc/shadow" };
  }
  if (facts.config.userdb !== undefined) {
    const problem = checkUserDatabase(facts.config.userdb);
    if (problem !== undefined) out.problems.push(`${prefix}: ${problem}`);
    // Checked as root here; after serve's -u the chain reads it as that account.
    const denied = problem === undefined && runAs !== undefined ? readProblem(facts.config.userdb, runAs) : undefined;
    if (denied !== undefined) out.problems.push(`${prefix}: ${runAs!.name} (serve -u) cannot read the user database: ${denied}; poppin users --group GROUP gives it to a group of that account`);
  }
  if (facts.config.apopSecretsFile !== undefined) {
    try {
      readFileSync(facts.config.apopSecretsFile);
    } catch (e) {
      out.problems.push(`${prefix}: unable to read APOP secrets ${facts.config.apopSecretsFile}: ${describeSysError(e)}`);
    }
  }
  // OAuth's settings as checkpassword reads them at a bearer login: a JWKS without its issuer
  // and audience, or an introspection URL that is not https://, would refuse every token.
  try {
    oauthConfigFromEnv(env as NodeJS.ProcessEnv);
  } catch (e) {
    out.problems.push(`${prefix}: ${errorText(e)}`);
  }
  return argv.slice(i);
}

function checkPop3d(argv: readonly string[], prefix: string, env: Env, out: ChainCheck): void {
  const parsed = parsePop3dArgs(argv, env);
  const compatOption = argv.find((a) => a.startsWith("--compat="));
  out.pop3d = {
    prefix,
    args: typeof parsed === "string" ? undefined : parsed,
    compatOrigin: compatOption !== undefined ? `flag ${compatOption}` : (env[ENV.compat.name] ?? "") !== "" ? `environment ${ENV.compat.name}` : "default",
  };
  if (typeof parsed === "string") out.problems.push(`${prefix}: ${parsed}`);
  // pop3d reads POPPIN_CONFIG itself when it names another file than popup's -f.
  if (envValue(env, ENV.config) !== undefined && envValue(env, ENV.config) !== out.popup?.resolved?.configFile) {
    try {
      resolvePolicy([], env);
    } catch (e) {
      out.problems.push(`${prefix}: ${errorText(e)}`);
    }
  }
}

/**
 * Checks the chain `program` (serve's command after HOST PORT) as it would run with
 * `env`; `runAs`: the account serve switches to (-u), which must be able to read the user
 * database. Never throws for a configuration problem: they are in `problems`.
 */
/**
 * A program named by a path that is not there (a typo in the run script, a checkpassword
 * that is not installed): every login would fail, so serve says so before it listens. Bare
 * names are left to $PATH at exec time.
 */
function missingProgram(word: string | undefined, who: string, out: ChainCheck): boolean {
  if (word === undefined || !word.includes("/") || existsSync(word)) return false;
  out.problems.push(`${who}unable to run ${word}: file does not exist`);
  return true;
}

export function checkChain(program: readonly string[], env: Env, resolver: Resolver, runAs?: RunAccount): ChainCheck {
  const out: ChainCheck = { problems: [], snapshotEnv: {} };
  if (missingProgram(program[0], "", out)) return out;
  const popup = matchApplet(program, 0, "popup", "qmail-popup", resolver);
  if (typeof popup === "string") {
    // `poppin qmqpd` and the like: another applet of ours, not a POP3 chain.
    const other = isPoppinName(basename(program[0] ?? "")) && program[1] !== undefined ? `poppin ${program[1]} is not a POP3 chain` : undefined;
    out.foreign = other ?? popup;
    return out;
  }
  const afterPopup = checkPopup(program, popup.words, popup.prefix, env, out);
  if (afterPopup === undefined) return out;
  if (missingProgram(afterPopup[0], `${popup.prefix}: `, out)) return out;
  const check = matchApplet(afterPopup, 0, "checkpassword", "checkpassword", resolver);
  if (typeof check === "string") {
    out.foreign = check;
    return out;
  }
  const afterCheck = checkCheckpassword(afterPopup, check.words, check.prefix, env, out, runAs);
  // checkpassword would take a mistyped option for the program to run: every login would fail.
  if (afterCheck[0]?.startsWith("--")) {
    out.problems.push(`${check.prefix}: unknown option ${afterCheck[0]} (checkpassword takes only --userdb=FILE before its program)`);
    return out;
  }
  if (missingProgram(afterCheck[0], `${check.prefix}: `, out)) return out;
  const pop3d = matchApplet(afterCheck, 0, "pop3d", "qmail-pop3d", resolver);
  if (typeof pop3d === "string") {
    out.foreign = pop3d;
    return out;
  }
  checkPop3d(afterCheck.slice(pop3d.words), pop3d.prefix, env, out);
  return out;
}

/**
 * The chain's environment, kept between SIGHUPs: `base` plus the last good snapshot.
 * Servers hold `env` (the same object throughout) and build each connection's
 * environment from it.
 */
export class ChainEnvironment {
  readonly env: Record<string, string | undefined>;
  #applied: string[] = [];

  constructor(private readonly base: Env, snapshot: Record<string, string>) {
    this.env = { ...base };
    this.apply(snapshot);
  }

  /** Replaces the previous snapshot's variables with `snapshot`'s. */
  apply(snapshot: Record<string, string>): void {
    for (const name of this.#applied) {
      if (this.base[name] === undefined) delete this.env[name];
      else this.env[name] = this.base[name];
    }
    Object.assign(this.env, snapshot);
    this.#applied = Object.keys(snapshot);
  }
}
