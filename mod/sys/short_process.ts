/**
 * Runtime settings for a process that lives for one connection (the classic chain's popup
 * with its one-process login, or popup, checkpassword and pop3d run apart). Bun reads
 * JavaScriptCore options from BUN_JSC_* variables when it starts, before any JavaScript runs,
 * so `serve` puts these in the environment of the poppin program it starts per connection;
 * serve itself (and every other long-running host) starts without them.
 *
 * useWarmUpMarkedBlocks=0: JavaScriptCore otherwise starts a "JSCWarmUp" thread that
 * allocates and touches heap blocks ahead of need (and with it mimalloc's scavenger thread).
 * A short process never uses most of them: on machine C a SCRAM session's popup took about
 * 0.6-0.8 ms less CPU and 130 fewer page faults without it, pop3d sending 10 MB about 0.8 ms
 * less (docs/benchmarks.md). tests/serve/short_process.test.ts checks that the option still
 * stops the thread in the pinned Bun.
 */
export const SHORT_PROCESS_ENV: Readonly<Record<string, string>> = {
  BUN_JSC_useWarmUpMarkedBlocks: "0",
};

/** `env` with SHORT_PROCESS_ENV added; a variable the administrator set already is kept as it is. */
export function withShortProcessEnv<T extends Record<string, string | undefined>>(env: T): T {
  const out: Record<string, string | undefined> = { ...env };
  for (const [name, value] of Object.entries(SHORT_PROCESS_ENV)) if (out[name] === undefined) out[name] = value;
  return out as T;
}
