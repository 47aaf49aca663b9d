/**
 * Running the checkpassword chain for popup, qmail-popup's doanddie(): the program
 * gets the connection as fds 0 and 1, and `user\0password\0timestamp\0` on a pipe at
 * fd 3; its exit status says how the login went (djb's contract): 0 served the session,
 * 1 refused, anything else temporary trouble. Its stderr is a pipe whose lines popup
 * copies to its own (mod/cli/child_log.ts): the program ends up running as the mailbox
 * owner, who must not get a descriptor of the service log.
 */
import { nodeChildProcess } from "../sys/builtins.ts";
import type { Readable, Writable } from "node:stream";
import { ChildLogRelay, chainLogNames } from "../cli/child_log.ts";
import { writeStderr } from "../cli/io.ts";
import type { ChainResult } from "./popup_server.ts";

/** How long popup still copies the chain's log lines after it exited (a process it left behind may hold the pipe). */
const LOG_DRAIN_MS = 1000;

export function runChain(argv: readonly string[], data: Uint8Array, env: NodeJS.ProcessEnv): Promise<ChainResult> {
  return new Promise((resolve) => {
    let settled = false;
    let logEnded = false;
    let exited: ChainResult | undefined;
    let drainTimer: ReturnType<typeof setTimeout> | undefined;
    let log: Readable | null = null;
    const finish = (result: ChainResult) => {
      if (drainTimer !== undefined) clearTimeout(drainTimer);
      if (!settled) {
        settled = true;
        resolve(result);
      }
    };
    // The answer waits for the chain's last log lines, so they come before popup's own line.
    const exitedWith = (result: ChainResult) => {
      exited = result;
      if (logEnded) finish(result);
      else {
        drainTimer = setTimeout(() => {
          log?.destroy();
          finish(result);
        }, LOG_DRAIN_MS);
      }
    };
    let child;
    try {
      child = nodeChildProcess().spawn(argv[0]!, argv.slice(1), { stdio: [0, 1, "pipe", "pipe"], env });
    } catch (e) {
      finish({ kind: "failed", failure: "temporary", detail: `unable to run ${argv[0]}: ${(e as { code?: string }).code ?? String(e)}` });
      return;
    }
    child.on("error", (e: Error & { code?: string }) => {
      finish({ kind: "failed", failure: "temporary", detail: `unable to run ${argv[0]}: ${e.code ?? e.message}` });
    });
    log = child.stdio[2] as Readable | null;
    if (log) {
      const relay = new ChildLogRelay(chainLogNames(argv), (line) => writeStderr(line));
      log.on("data", (chunk: Buffer) => relay.feed(chunk));
      const ended = () => {
        if (logEnded) return;
        logEnded = true;
        relay.end();
        if (exited !== undefined) finish(exited);
      };
      log.on("end", ended);
      log.on("error", ended);
    } else logEnded = true;
    child.on("exit", (code, signal) => {
      if (signal !== null) exitedWith({ kind: "failed", failure: "crashed", detail: `${argv[0]} killed by ${signal}` });
      else if (code === 0) exitedWith({ kind: "served" });
      else if (code === 1) exitedWith({ kind: "failed", failure: "rejected", detail: `${argv[0]} exit 1` });
      else exitedWith({ kind: "failed", failure: "temporary", detail: `${argv[0]} exit ${code}` });
    });
    const pipe = child.stdio[3] as Writable | null;
    if (pipe) {
      pipe.on("error", () => { /* the program did not read fd 3: its exit status tells */ });
      pipe.end(Buffer.from(data.buffer, data.byteOffset, data.byteLength)); // no copy: popup zeroes `data` afterwards
    }
  });
}
