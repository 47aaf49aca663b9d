import { basename } from "../base/posix_path.ts";
import type { AppletContext } from "./context.ts";
import { fatal } from "./context.ts";
import { APPLETS, ALIASES, callableNames, findAlias, findApplet } from "./applet_table.ts";
import { EXIT_OK, EXIT_TEMP, EXIT_USAGE, PoppinError, UsageError } from "../base/errors.ts";
import { writeStderr, writeStdout } from "../base/io.ts";
import { VERSION } from "../base/version.ts";
import { isPoppinName } from "../base/self_name.ts";
import { isJitUnavailable, jitUnavailableError } from "../sys/memory_limit.ts";

/** Names under which we run from source (`bun main.ts`): poppin itself too. */
const SOURCE_NAMES = new Set(["bun", "node", "main.ts"]);

/** poppin itself (also under a versioned or staged file name), or run from source. */
function isSelfName(name: string): boolean {
  return isPoppinName(name) || SOURCE_NAMES.has(name);
}

export interface Invocation {
  /** basename of argv[0] as the kernel saw it. */
  argv0: string;
  /** Arguments after the program (and after the script path when run by `bun main.ts`). */
  args: string[];
  execPath: string;
  env: NodeJS.ProcessEnv;
}

/** The list of applets with their summaries (loads every applet: only for help). */
export async function overview(): Promise<string> {
  const applets = await Promise.all(APPLETS.map((a) => a.load()));
  const width = Math.max(...applets.map((a) => a.name.length));
  const lines = applets.map((a) => `  ${a.name.padEnd(width)}  ${a.summary}`);
  const names = ALIASES.filter((a) => a.classic).map((a) => a.name).join(", ");
  return [
    `poppin ${VERSION}: a POP3 mail-pickup service as small tools, in one binary`,
    "",
    "usage: poppin APPLET [ARGS...]   or call through a symlink named after the applet",
    "       poppin help APPLET        usage of one applet",
    "       poppin --version",
    "",
    "applets:",
    ...lines,
    "",
    `classic names: ${names}`,
    "",
  ].join("\n");
}

/**
 * Usage of the applet NAME selects. Through a symlink (`maildirmake --help`) under that name;
 * through poppin (`poppin help NAME`, `poppin NAME --help`) as `poppin APPLET`, unless NAME is a
 * classic name of its own (`poppin help tcprules`: tcprules' usage).
 */
async function appletHelp(name: string, viaPoppin: boolean): Promise<string | undefined> {
  const alias = findAlias(name);
  const entry = alias && findApplet(alias.applet);
  if (!entry) return undefined;
  const applet = await entry.load();
  const called = alias.classic && !(viaPoppin && alias.name === applet.name) ? alias.name : `poppin ${applet.name}`;
  if (alias.leadingArgs.length > 0) {
    // `cdbmake` is `cdb make`: show only that form of the usage, under the called name.
    const form = `${applet.name} ${alias.leadingArgs.join(" ")}`;
    const part = applet.usage.split(" | ").find((p) => p === form || p.startsWith(`${form} `));
    if (part) return `usage: ${called}${part.slice(form.length)}\n`;
  }
  return `usage: ${called} ${applet.usage.replace(/^\S+\s*/, "")}\n`;
}

/**
 * A usage text that names the applet bare ("rules check rules.cdb | rules compile ..."), as
 * `poppin rules` must be typed: each form gets "poppin " so the line can be copied as it is.
 */
function usageAsCalled(text: string, name: string, classic: boolean): string {
  if (classic) return text;
  return text.replace(new RegExp(`(^|\\| )${name}(?= )`, "g"), `$1poppin ${name}`);
}

function knownNames(): string {
  return callableNames().join(" ");
}

/**
 * Why this process must not run: started set-user-ID or set-group-ID (the bit set on the
 * binary, say to let a non-root popup run checkpassword as vchkpw is run), its real and
 * effective ids differ. Every applet would then be root's for whoever runs it, with their
 * environment and arguments (`setuidgid root sh`, `pop3d` with POPPIN_BECOME=0:0).
 */
function setIdProblem(): string | undefined {
  const [uid, euid, gid, egid] = [process.getuid?.(), process.geteuid?.(), process.getgid?.(), process.getegid?.()];
  if (uid === euid && gid === egid) return undefined;
  return `poppin runs set-user-ID or set-group-ID (real uid ${uid} gid ${gid}, effective uid ${euid} gid ${egid}), which would give anyone who runs it those rights: remove the bit (chmod u-s,g-s) and start the service as root instead`;
}

/** Picks the applet by argv[0] (busybox style) or, for `poppin`, by the first argument; returns the exit code. */
export async function dispatch(inv: Invocation): Promise<number> {
  const setId = setIdProblem();
  if (setId !== undefined) {
    writeStderr(`poppin: fatal: ${setId}\n`);
    return EXIT_TEMP;
  }
  let calledAs = basename(inv.argv0);
  let args = inv.args;
  let viaPoppin = false;
  if (isSelfName(calledAs) || !findAlias(calledAs)) {
    if (!isSelfName(calledAs)) {
      writeStderr(`poppin: fatal: unknown applet name ${calledAs}; known: ${knownNames()}\n`);
      return EXIT_USAGE;
    }
    const first = args[0];
    if (first === undefined || first === "--help" || first === "-h") {
      writeStdout(await overview());
      return EXIT_OK;
    }
    if (first === "--version" || first === "-V") {
      writeStdout(`poppin ${VERSION}\n`);
      return EXIT_OK;
    }
    if (first === "help") {
      const text = args[1] === undefined ? await overview() : await appletHelp(args[1], true);
      if (text === undefined) {
        writeStderr(`poppin: fatal: unknown applet ${args[1]}; known: ${knownNames()}\n`);
        return EXIT_USAGE;
      }
      writeStdout(text);
      return EXIT_OK;
    }
    if (!findAlias(first)) {
      writeStderr(`poppin: fatal: unknown applet ${first}; known: ${knownNames()}\n`);
      return EXIT_USAGE;
    }
    calledAs = first;
    args = args.slice(1);
    viaPoppin = true;
  }
  const alias = findAlias(calledAs)!;
  if (args.length === 1 && args[0] === "--help") {
    writeStdout((await appletHelp(calledAs, viaPoppin))!);
    return EXIT_OK;
  }
  const classic = alias.classic && !viaPoppin;
  const entry = findApplet(alias.applet)!;
  const ctx: AppletContext = {
    applet: entry.name,
    calledAs,
    classic,
    prefix: classic ? calledAs : `poppin ${alias.classic ? alias.name : entry.name}`,
    execPath: inv.execPath,
    env: inv.env,
  };
  try {
    const applet = await entry.load();
    return await applet.run([...alias.leadingArgs, ...args], ctx);
  } catch (err) {
    if (err instanceof UsageError) {
      writeStderr(`${ctx.prefix}: usage: ${usageAsCalled(err.message, entry.name, classic)}\n`);
      return err.exitCode;
    }
    if (err instanceof PoppinError) {
      fatal(ctx, err.message);
      return err.exitCode;
    }
    // A memory limit kept the JIT from starting and bun:ffi refuses: say which limit, not a stack.
    if (isJitUnavailable(err)) fatal(ctx, jitUnavailableError().message);
    else fatal(ctx, `internal error: ${(err as Error)?.stack ?? String(err)}`);
    return EXIT_TEMP;
  }
}
