/**
 * Runs a multilog processor as daemontools does: `sh -c PROCESSOR` in the log
 * directory with `previous` on stdin, `processed` (truncated) on stdout, `state` on
 * fd 4 and `newstate` (truncated) on fd 5; until it exits 0, warn, pause and run it again.
 */
import { nodeChildProcess } from "../sys/builtins.ts";
import { closeSync } from "node:fs";
import { READ, TRUNC, openLogFile, openOwnLogFile } from "./log_file.ts";
import { djbErrorText } from "./djb_errors.ts";
import { pause, sleepSync, type LogHooks } from "./hooks.ts";

/** Opens the processor's four files; on failure says which, as the forked multilog child would. */
function openFiles(dir: string): number[] {
  const fds: number[] = [];
  // previous holds the log being processed: it must be the file rotated there. The others may
  // start empty (state does after an unclean stop), so a link planted at one is replaced.
  const steps: Array<[string, number, typeof openLogFile]> = [
    ["previous", READ, openLogFile], ["processed", TRUNC, openOwnLogFile], ["state", READ, openOwnLogFile], ["newstate", TRUNC, openOwnLogFile],
  ];
  try {
    for (const [name, flags, open] of steps) fds.push(open(`${dir}/${name}`, flags, 0o644));
    return fds;
  } catch (err) {
    for (const fd of fds) closeSync(fd);
    throw err;
  }
}

/**
 * `dir`: the directory as it is reached (through its open descriptor); `shown`: as the
 * script named it, for the warnings (`processor failed in ./main, pausing`).
 */
export function runProcessor(dir: string, shown: string, processor: string, hooks: LogHooks): void {
  for (;;) {
    let fds: number[];
    try {
      fds = openFiles(dir);
    } catch (err) {
      hooks.warn(`unable to run ${processor}: ${djbErrorText(err)}`);
      hooks.warn(`processor failed in ${shown}, pausing`);
      sleepSync(hooks.pauseMs);
      continue;
    }
    const [previous, processed, state, newstate] = fds;
    // multilog execs /bin/sh with argv[0] "sh": the processor's $0 and sh's own messages say sh.
    const result = nodeChildProcess().spawnSync("/bin/sh", ["-c", processor], {
      argv0: "sh",
      cwd: dir,
      stdio: [previous, processed, "inherit", "ignore", state, newstate],
    });
    for (const fd of fds) closeSync(fd);
    if (result.error) {
      pause(hooks, `unable to fork for processor in ${shown}`, djbErrorText(result.error));
      continue;
    }
    if (result.signal) {
      pause(hooks, `processor crashed in ${shown}`, `killed by ${result.signal}`);
      continue;
    }
    if (result.status === 0) return;
    hooks.warn(`processor failed in ${shown}, pausing`);
    sleepSync(hooks.pauseMs);
  }
}
