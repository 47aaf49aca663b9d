/**
 * Recognising poppin's own POP3 chain in a command line:
 *   poppin popup [OPTIONS] NAME poppin checkpassword [--userdb=FILE] poppin pop3d [OPTIONS] Maildir
 * with `qmail-popup`, `checkpassword`, `qmail-pop3d` (symlinks to this binary) in place of
 * `poppin APPLET`. `serve --inline` and popup's one-process login serve such a chain
 * themselves; anything else is a foreign program, run as it always was.
 */
import { ENV, envValue } from "../base/env.ts";
import { realpathSync } from "node:fs";
import { basename } from "../base/posix_path.ts";
import { pathexecCandidates } from "../sys/libc.ts";
import { parsePolicyFlags } from "../policy/resolve.ts";
import { isPoppinName, programLabel } from "../base/self_name.ts";

/** The part of the chain after popup: `checkpassword ... pop3d ...`. */
export interface LoginChain {
  /** checkpassword's --userdb=FILE, if given. */
  userdbOption: string | undefined;
  /** pop3d's --compat= value, if given. */
  compatOption: string | undefined;
  /** pop3d's Maildir (or mbox:) argument (relative to the user's home unless absolute). */
  maildir: string;
  /** Every argument after pop3d, as given (its options and the mailbox). */
  pop3dArgs: string[];
  /** Message prefixes the chain's programs would have used ("qmail-pop3d" or "poppin pop3d"). */
  checkpasswordPrefix: string;
  pop3dPrefix: string;
  /** The programs as the chain names them (programLabel), for `why=... exit N`. */
  checkpasswordLabel: string;
  pop3dLabel: string;
}

export interface PopupChain extends LoginChain {
  hostname: string;
  popupPrefix: string;
  /** popup's own options before the host name (`-f CONFIG`, `--option=value`). */
  popupOptions: string[];
}

/** How a name on the command line resolves to a file, so we can tell whether it is this binary. */
export interface Resolver {
  /** The real path of this binary. */
  self: string;
  /** PATH to search for names without a slash. */
  path: string | undefined;
}

/** The real path `name` would run (PATH search as pathexec), or undefined when nothing is found. */
function resolveProgram(name: string, resolver: Resolver): string | undefined {
  for (const candidate of pathexecCandidates(name, resolver.path)) {
    try {
      return realpathSync(candidate);
    } catch {
      // next candidate
    }
  }
  return undefined;
}

/**
 * Whether argv[at] names this binary's `applet` (as `poppin APPLET` or its classic symlink);
 * returns the number of words it took and the message prefix, or a reason why not.
 */
export function matchApplet(
  argv: readonly string[], at: number, applet: string, classicName: string, resolver: Resolver,
): { words: number; prefix: string; label: string } | string {
  const word = argv[at];
  if (word === undefined) return `${applet} is missing`;
  const base = basename(word);
  let words: number;
  let prefix: string;
  if (isPoppinName(base) && argv[at + 1] === applet) {
    words = 2;
    prefix = `poppin ${applet}`;
  } else if (base === classicName) {
    words = 1;
    prefix = classicName;
  } else if (base === applet) {
    words = 1;
    prefix = `poppin ${applet}`;
  } else {
    return `${word} is not poppin's ${applet} (${classicName})`;
  }
  const real = resolveProgram(word, resolver);
  if (real !== undefined && real !== resolver.self) return `${word} is ${real}, not this poppin binary (${resolver.self})`;
  // A path that is not there is nobody's program: running it would fail, so it is not ours to
  // stand in for (popup's one-process login must not serve a chain whose exec would fail).
  if (real === undefined && word.includes("/")) return `${word} does not exist`;
  return { words, prefix, label: programLabel(argv.slice(at, at + words)) };
}

/** Parses `checkpassword [--userdb=F] pop3d [--compat=M] Maildir`; a string says why it is not ours. */
export function parseLoginChain(argv: readonly string[], resolver: Resolver): LoginChain | string {
  let i = 0;
  const check = matchApplet(argv, i, "checkpassword", "checkpassword", resolver);
  if (typeof check === "string") return check;
  i += check.words;
  let userdbOption: string | undefined;
  if (argv[i]?.startsWith("--userdb=")) userdbOption = argv[i++]!.slice("--userdb=".length);
  const pop3d = matchApplet(argv, i, "pop3d", "qmail-pop3d", resolver);
  if (typeof pop3d === "string") return pop3d;
  i += pop3d.words;
  let compatOption: string | undefined;
  const pop3dArgs = argv.slice(i);
  // pop3d's own options come first ("--compat=", mbox options); the mailbox is the one other word.
  const rest = pop3dArgs.filter((arg) => {
    if (arg.startsWith("--compat=")) compatOption = arg.slice("--compat=".length);
    return !arg.startsWith("--");
  });
  if (rest.length !== 1 || rest[0] === "") return "pop3d must be given exactly one Maildir";
  return { userdbOption, compatOption, maildir: rest[0]!, pop3dArgs, checkpasswordPrefix: check.prefix, pop3dPrefix: pop3d.prefix,
    checkpasswordLabel: check.label, pop3dLabel: pop3d.label };
}

/** Parses `popup [OPTIONS] NAME` and returns the words after it (the login program's command line). */
export function parsePolicyChainHead(argv: readonly string[], resolver: Resolver):
  { hostname: string; popupPrefix: string; popupOptions: string[]; rest: string[] } | string {
  const popup = matchApplet(argv, 0, "popup", "qmail-popup", resolver);
  if (typeof popup === "string") return popup;
  const after = argv.slice(popup.words);
  let rest: string[];
  try {
    rest = parsePolicyFlags(after).rest;
  } catch (e) {
    return `popup: ${(e as Error).message}`;
  }
  const popupOptions = after.slice(0, after.length - rest.length);
  const hostname = rest[0];
  if (hostname === undefined || hostname === "") return "popup needs a host name";
  return { hostname, popupPrefix: popup.prefix, popupOptions, rest: rest.slice(1) };
}

/** Parses the whole `popup NAME checkpassword ... pop3d ... Maildir`. */
export function parsePopupChain(argv: readonly string[], resolver: Resolver): PopupChain | string {
  const head = parsePolicyChainHead(argv, resolver);
  if (typeof head === "string") return head;
  const login = parseLoginChain(head.rest, resolver);
  if (typeof login === "string") return login;
  return { ...login, hostname: head.hostname, popupPrefix: head.popupPrefix, popupOptions: head.popupOptions };
}

/**
 * Whether `argv` runs this binary's popup (whatever follows it): its options before the host
 * name, or undefined for any other program. serve hands such a popup its STLS key material.
 */
export function parsePopupCommand(argv: readonly string[], resolver: Resolver): { popupOptions: string[] } | undefined {
  const popup = matchApplet(argv, 0, "popup", "qmail-popup", resolver);
  if (typeof popup === "string") return undefined;
  const after = argv.slice(popup.words);
  try {
    const rest = parsePolicyFlags(after).rest;
    return { popupOptions: after.slice(0, after.length - rest.length) };
  } catch {
    return undefined; // popup itself says what is wrong with its options
  }
}

/** Whether `argv` starts this binary (any applet, under any name): a poppin program started per connection. */
export function runsThisBinary(argv: readonly string[], resolver: Resolver): boolean {
  const word = argv[0];
  return word !== undefined && resolveProgram(word, resolver) === resolver.self;
}

/** The resolver for this process: our own real path and PATH. */
export function selfResolver(execPath: string, path: string | undefined): Resolver {
  let self = execPath;
  try {
    self = realpathSync(execPath);
  } catch {
    // keep the name as given
  }
  return { self, path };
}

/**
 * The user database poppin's own checkpassword will read, when `argv` (popup's chain)
 * starts with it: its --userdb=FILE, else POPPIN_USERDB. Undefined for a foreign
 * checkpassword or system accounts: then SCRAM is not offered (there are no keys).
 */
export function chainUserdb(argv: readonly string[], resolver: Resolver, env: NodeJS.ProcessEnv): string | undefined {
  const check = matchApplet(argv, 0, "checkpassword", "checkpassword", resolver);
  if (typeof check === "string") return undefined;
  const option = argv[check.words];
  if (option?.startsWith("--userdb=")) return option.slice("--userdb=".length) || undefined;
  return envValue(env, ENV.userdb);
}

/** Whether popup's chain starts with poppin's own checkpassword (which takes bearer tokens beside fd 3). */
export function chainRunsPoppinCheckpassword(argv: readonly string[], resolver: Resolver): boolean {
  return typeof matchApplet(argv, 0, "checkpassword", "checkpassword", resolver) !== "string";
}
