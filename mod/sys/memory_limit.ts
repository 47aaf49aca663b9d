/**
 * The memory limits the runtime needs. JavaScriptCore reserves its heap and its JIT's code
 * pool as address space when it starts: under a data or address-space limit (softlimit -m, -d,
 * -a; ulimit -d, -v) below about 300 MB Bun crashes before poppin's code runs (SIGSEGV or
 * "Bun has crashed"), and below about 2.5 GB it starts without the JIT, where every bun:ffi
 * call (crypt, setuid, locks) throws "bun:ffi requires the JIT". qmail-era run scripts carry
 * such limits (`softlimit -m 2000000`): these functions turn both into a sentence that names
 * the limit.
 */
import { readFileSync } from "node:fs";
import { TempError } from "../base/errors.ts";

/**
 * The smallest data and address-space soft limit poppin runs under: measured with Bun 1.4.5 on
 * x86_64 (2.2 GB crashed or ran without the JIT, 2.5 GB ran), with a margin for a serving process.
 */
export const RUNTIME_MIN_MEMORY_LIMIT = 3_000_000_000n;

/** The lines of /proc/self/limits that matter here, as "data size X, address space Y". */
export function memoryLimitsText(limits: string): string {
  const soft = (label: string) => new RegExp(`^Max ${label}\\s+(\\S+)`, "m").exec(limits)?.[1] ?? "unknown";
  return `data size ${soft("data size")}, address space ${soft("address space")}`;
}

function currentLimitsText(): string {
  try {
    return memoryLimitsText(readFileSync("/proc/self/limits", "latin1"));
  } catch {
    return "limits unknown";
  }
}

/** What to tell the administrator when the runtime lacks the memory it needs. */
export function memoryLimitAdvice(): string {
  return `raise the limit (softlimit -m, -d or -a; ulimit -d or -v) to at least ${RUNTIME_MIN_MEMORY_LIMIT} bytes or remove it`;
}

/** bun:ffi's refusal when JavaScriptCore started without its JIT (a memory limit too small). */
export function isJitUnavailable(err: unknown): boolean {
  return err instanceof Error && /requires the JIT/.test(err.message);
}

/** The TempError to throw instead of bun:ffi's "requires the JIT". */
export function jitUnavailableError(): TempError {
  return new TempError(`memory limit too small for the runtime (${currentLimitsText()}): ${memoryLimitAdvice()}`);
}

/** dlopen that throws jitUnavailableError when a memory limit kept the JIT from starting. */
export function openUnderLimits<T>(open: () => T): T {
  try {
    return open();
  } catch (err) {
    if (isJitUnavailable(err)) throw jitUnavailableError();
    throw err;
  }
}
