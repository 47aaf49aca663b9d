/**
 * The runtime settings serve gives the poppin program it starts per connection
 * (mod/sys/short_process.ts): present for poppin, absent for a foreign program, an
 * administrator's own value kept; and, in the compiled binary, the JavaScriptCore option
 * still does what it is there for (no JSCWarmUp thread), so a Bun upgrade that renames or
 * drops it fails here instead of silently costing every session.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, applet, removeTempDirs, tempDir } from "../helpers.ts";
import { startServer, talk } from "./harness.ts";
import { SHORT_PROCESS_ENV } from "../../mod/sys/short_process.ts";

afterAll(removeTempDirs);

const NAME = "BUN_JSC_useWarmUpMarkedBlocks";
const baseEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin" };

/** What `env` prints in a connection's program started by serve as `program`. */
async function childEnvironment(program: string[], env: Record<string, string> = baseEnv): Promise<string> {
  const s = await startServer(applet("tcpserver"), ["-HR", "127.0.0.1", "0", ...program], env);
  try {
    return (await talk(s.port, { timeoutMs: 5000 })).out;
  } finally {
    await s.stop();
  }
}

/** The names of the threads of `pid`, polled until `until` holds or `ms` passed. */
async function threadNames(pid: number, until: (names: string[]) => boolean, ms: number): Promise<string[]> {
  let names: string[] = [];
  for (const deadline = Date.now() + ms; Date.now() < deadline; await Bun.sleep(50)) {
    try {
      names = readdirSync(`/proc/${pid}/task`).map((t) => readFileSync(`/proc/${pid}/task/${t}/comm`, "utf8").trim());
    } catch {
      break;
    }
    if (until(names)) break;
  }
  return names;
}

/** Threads of a poppin process waiting for input (popup before the client's first line), with `extra` in its environment. */
async function popupThreads(extra: Record<string, string>, until: (names: string[]) => boolean, ms: number): Promise<string[]> {
  const proc = Bun.spawn([POPPIN, "popup", "host.example", "true"], { env: { ...baseEnv, ...extra }, stdin: "pipe", stdout: "pipe", stderr: "ignore" });
  try {
    // The greeting says the runtime has started and the session waits for a command.
    const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
    expect(Buffer.from((await reader.read()).value ?? []).toString()).toStartWith("+OK");
    reader.releaseLock();
    return await threadNames(proc.pid, until, ms);
  } finally {
    proc.kill("SIGKILL");
    await proc.exited;
  }
}

describe("serve: the runtime settings of a per-connection poppin program", () => {
  test("the setting is the JavaScriptCore option the compiled binary reads", () => {
    expect(SHORT_PROCESS_ENV).toEqual({ [NAME]: "0" });
  });

  test("a poppin program serve starts gets it; a foreign program does not", async () => {
    const empty = tempDir("short");
    mkdirSync(join(empty, "env"));
    // poppin envdir (an empty directory) then exec's env: what poppin got, printed.
    const ours = await childEnvironment([POPPIN, "envdir", join(empty, "env"), "env"]);
    expect(ours).toContain("TCPREMOTEIP=127.0.0.1\n"); // the program ran and printed its environment
    expect(ours).toContain(`${NAME}=0\n`);
    const foreign = await childEnvironment(["env"]);
    expect(foreign).toContain("TCPREMOTEIP=127.0.0.1\n");
    expect(foreign).not.toContain("BUN_JSC_");
  });

  test("a value the administrator gave serve is kept", async () => {
    const empty = tempDir("short");
    mkdirSync(join(empty, "env"));
    const out = await childEnvironment([POPPIN, "envdir", join(empty, "env"), "env"], { ...baseEnv, [NAME]: "1" });
    expect(out).toContain(`${NAME}=1\n`);
    expect(out).not.toContain(`${NAME}=0\n`);
  });

  test("compiled binary: the option stops JavaScriptCore's warm-up thread (present without it)", async () => {
    const without = await popupThreads({}, (names) => names.includes("JSCWarmUp"), 3000);
    expect(without).toContain("JSCWarmUp");
    // JavaScriptCore starts it before the greeting (as `without` shows): half a second is plenty.
    const withIt = await popupThreads(SHORT_PROCESS_ENV, () => false, 500);
    expect(withIt.length).toBeGreaterThan(0); // the process was there to look at
    expect(withIt).not.toContain("JSCWarmUp");
  });
});
