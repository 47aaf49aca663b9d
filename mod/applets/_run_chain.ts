/**
 * Running the checkpassword chain for popup, qmail-popup's doanddie(): the program
 * gets the connection as fds 0 and 1, our stderr, and `user\0password\0timestamp\0`
 * on a pipe at fd 3; its exit status says how the login went (djb's contract):
 * 0 served the session, 1 refused, anything else temporary trouble.
 */
import { nodeChildProcess } from "../sys/builtins.ts";
import type { Writable } from "node:stream";
import type { ChainResult } from "../session/login_loop.ts";

export function runChain(argv: readonly string[], data: Uint8Array, env: NodeJS.ProcessEnv): Promise<ChainResult> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: ChainResult) => {
      if (!settled) {
        settled = true;
        resolve(result);
      }
    };
    let child;
    try {
      child = nodeChildProcess().spawn(argv[0]!, argv.slice(1), { stdio: [0, 1, "inherit", "pipe"], env });
    } catch (e) {
      finish({ kind: "failed", failure: "temporary", detail: `unable to run ${argv[0]}: ${(e as { code?: string }).code ?? String(e)}` });
      return;
    }
    child.on("error", (e: Error & { code?: string }) => {
      finish({ kind: "failed", failure: "temporary", detail: `unable to run ${argv[0]}: ${e.code ?? e.message}` });
    });
    child.on("exit", (code, signal) => {
      if (signal !== null) finish({ kind: "failed", failure: "crashed", detail: `${argv[0]} killed by ${signal}` });
      else if (code === 0) finish({ kind: "served" });
      else if (code === 1) finish({ kind: "failed", failure: "rejected", detail: `${argv[0]} exit 1` });
      else finish({ kind: "failed", failure: "temporary", detail: `${argv[0]} exit ${code}` });
    });
    const pipe = child.stdio[3] as Writable | null;
    if (pipe) {
      pipe.on("error", () => { /* the program did not read fd 3: its exit status tells */ });
      pipe.end(Buffer.from(data.buffer, data.byteOffset, data.byteLength)); // no copy: popup zeroes `data` afterwards
    }
  });
}
