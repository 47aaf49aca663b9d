/**
 * Running the checkpassword chain for popup, qmail-popup's doanddie(): the program
 * gets the connection as fds 0 and 1, and `user\0password\0timestamp\0` on a pipe at
 * fd 3; its exit status says how the login went (djb's contract): 0 served the session,
 * 1 refused, anything else temporary trouble. Its stderr is a pipe whose lines popup
 * copies to its own (mod/standalone/user_log.ts): the program ends up running as the
 * mailbox owner, who must not get a descriptor of the service log.
 */
import { killedBy } from "../sys/watchdog.ts";
import { nodeChildProcess } from "../sys/builtins.ts";
import { describeSysError } from "../base/errors.ts";
import { statSync } from "node:fs";
import { basename } from "node:path";
import type { Readable, Writable } from "node:stream";
import { writeStderr } from "../base/io.ts";
import { forwardUserLog } from "../standalone/user_log.ts";
import type { ChainResult } from "../session/login_loop.ts";
import { isPoppinName, programLabel } from "../base/self_name.ts";

/** How long popup still copies the chain's log lines after it exited (a process it left behind may hold the pipe). */
const LOG_DRAIN_MS = 1000;

/** Names only popup and serve write with: never taken as the chain's own. */
const PARENT_NAMES: ReadonlySet<string> = new Set(["qmail-popup", "poppin qmail-popup", "poppin popup", "popup", "tcpserver", "poppin tcpserver", "poppin serve", "serve"]);

/** The names a program at `path` (first argument `next`) may log with: its own, or "poppin APPLET". */
function programNames(path: string, next: string | undefined): string[] {
  const name = basename(path);
  if (isPoppinName(name)) return next === undefined ? [] : [`poppin ${next}`];
  return [name, `poppin ${name}`];
}

/** Whether `arg` names a program: a bare name (looked up in PATH) or an executable file. */
function namesProgram(arg: string): boolean {
  if (!arg.includes("/")) return true;
  try {
    const st = statSync(arg);
    return st.isFile() && (st.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

/**
 * The names the chain `argv` (checkpassword PROG ...) logs with: first those of the program
 * that ends up running as the user (PROG, the first argument after checkpassword's name and
 * options, when it names a program: pop3d), then checkpassword's own. Lines under any other
 * name are written as the first name's warnings.
 */
export function chainLogNames(argv: readonly string[]): string[] {
  if (argv.length === 0) return [];
  const names = programNames(argv[0]!, argv[1]);
  let i = isPoppinName(basename(argv[0]!)) ? 2 : 1;
  while (i < argv.length && argv[i]!.startsWith("-")) i++;
  if (i < argv.length && namesProgram(argv[i]!)) names.unshift(...programNames(argv[i]!, argv[i + 1]));
  return names.filter((n) => !PARENT_NAMES.has(n));
}

export function runChain(argv: readonly string[], data: Uint8Array, env: NodeJS.ProcessEnv): Promise<ChainResult> {
  return new Promise((resolve) => {
    let settled = false;
    let forwarded: { stop(): Promise<void> } | undefined;
    const finish = (result: ChainResult) => {
      if (!settled) {
        settled = true;
        resolve(result);
      }
    };
    // The answer waits for the chain's last log lines (LOG_DRAIN_MS at most), so they come before popup's own line.
    const exitedWith = (result: ChainResult) => {
      if (forwarded === undefined) finish(result);
      else void forwarded.stop().then(() => finish(result));
    };
    let child;
    try {
      child = nodeChildProcess().spawn(argv[0]!, argv.slice(1), { stdio: [0, 1, "pipe", "pipe"], env });
    } catch (e) {
      finish({ kind: "failed", failure: "temporary", detail: `unable to run ${argv[0]}: ${describeSysError(e)}` });
      return;
    }
    child.on("error", (e: Error & { code?: string }) => {
      finish({ kind: "failed", failure: "temporary", detail: `unable to run ${argv[0]}: ${describeSysError(e)}` });
    });
    const log = child.stdio[2] as Readable | null;
    if (log) forwarded = forwardUserLog(log, chainLogNames(argv), (line) => writeStderr(line), LOG_DRAIN_MS);
    child.on("exit", (code, signal) => {
      if (signal !== null) exitedWith({ kind: "failed", failure: "crashed", detail: `${programLabel(argv)} ${killedBy(signal)}` });
      else if (code === 0) exitedWith({ kind: "served" });
      else if (code === 1) exitedWith({ kind: "failed", failure: "rejected", detail: `${programLabel(argv)} exit 1` });
      else exitedWith({ kind: "failed", failure: "temporary", detail: `${programLabel(argv)} exit ${code}` });
    });
    const pipe = child.stdio[3] as Writable | null;
    if (pipe) {
      pipe.on("error", () => { /* the program did not read fd 3: its exit status tells */ });
      pipe.end(Buffer.from(data.buffer, data.byteOffset, data.byteLength)); // no copy: popup zeroes `data` afterwards
    }
  });
}
