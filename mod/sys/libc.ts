/**
 * libc through bun:ffi, opened on first use: the account databases through NSS
 * (getpwnam_r, getspnam_r, so LDAP and sss work as they do for login), execve
 * (replace the process, as djb's pathexec does), fcntl and signal dispositions.
 * Works inside the compiled binary (tests/sys/libc.test.ts checks it).
 */
import { CString, ptr, read, type Pointer } from "bun:ffi";
import { SysCallError as LibcError, lastErrno, libcFunctions } from "./ffi.ts";
import { nodeOs } from "./builtins.ts";

const libcFns = libcFunctions({
  getpwnam_r: { args: ["ptr", "ptr", "ptr", "u64", "ptr"], returns: "i32" },
  getpwuid_r: { args: ["u32", "ptr", "ptr", "u64", "ptr"], returns: "i32" },
  getspnam_r: { args: ["ptr", "ptr", "ptr", "u64", "ptr"], returns: "i32" },
  execve: { args: ["ptr", "ptr", "ptr"], returns: "i32" },
  fcntl: { args: ["i32", "i32", "i32"], returns: "i32" },
  signal: { args: ["i32", "ptr"], returns: "ptr" },
});
const libc = libcFns.symbols;

/** A failed libc call (the shared SysCallError): `code` is the errno name ("EACCES"). */
export { LibcError };

/** NUL-terminated copy of a name or path (bytes are passed as they are). */
export function cBytes(value: Uint8Array | string): Buffer {
  const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : value;
  const out = Buffer.alloc(bytes.length + 1);
  out.set(bytes, 0);
  return out;
}

function cString(p: number): string | undefined {
  return p === 0 ? undefined : new CString(p as Pointer).toString();
}

/** One passwd entry (struct passwd). */
export interface PasswdEntry {
  name: string;
  /** The passwd field: usually "x" (the hash is in shadow). */
  passwd: string;
  uid: number;
  gid: number;
  gecos: string;
  dir: string;
  shell: string;
}

/** One shadow entry (struct spwd); -1 means "field empty" as in shadow(5). */
export interface ShadowEntry {
  name: string;
  hash: string | undefined;
  lastChange: number;
  min: number;
  max: number;
  warn: number;
  inactive: number;
  expire: number;
}

/** Sizes of the buffers for the _r calls: doubled on ERANGE, up to a bound. */
const NSS_BUFFER_START = 4096;
const NSS_BUFFER_MAX = 1 << 20;
/** What the _r calls answer when the entry does not exist (POSIX allows these besides 0). */
const NOT_FOUND = new Set(["ENOENT", "ESRCH", "EBADF", "EPERM"]);

type NssCall = (name: Buffer, entry: Uint8Array, buf: Uint8Array, size: number, result: BigUint64Array) => number;

/** Runs a get*nam_r call with a growing buffer; returns the entry pointer or undefined when absent. */
function nssLookup(call: string, fn: NssCall, name: Uint8Array | string, entry: Uint8Array): { found: boolean; keep: Uint8Array } {
  const cname = cBytes(name);
  for (let size = NSS_BUFFER_START; size <= NSS_BUFFER_MAX; size *= 2) {
    const buf = new Uint8Array(size);
    const result = new BigUint64Array(1);
    const rc = fn(cname, entry, buf, size, result);
    if (rc === 0) return { found: result[0] !== 0n, keep: buf };
    const err = new LibcError(call, rc);
    if (err.code === "ERANGE") continue;
    if (NOT_FOUND.has(err.code)) return { found: false, keep: buf };
    throw err;
  }
  throw new LibcError(call, nodeOs().constants.errno.ERANGE);
}

/** getpwnam_r: the user from every NSS source; undefined when unknown; throws LibcError on trouble. */
export function getpwnam(name: Uint8Array | string): PasswdEntry | undefined {
  const entry = new Uint8Array(48); // struct passwd on LP64: 5 pointers, uid, gid
  const sym = libc();
  const { found, keep } = nssLookup("getpwnam_r", (n, e, b, s, r) => sym.getpwnam_r(n, e, b, s, r), name, entry);
  if (!found) return undefined;
  return passwdEntry(entry, keep);
}

/** getpwuid_r: the account of `uid` from every NSS source; undefined when none; throws LibcError on trouble. */
export function getpwuid(uid: number): PasswdEntry | undefined {
  const entry = new Uint8Array(48);
  const sym = libc();
  const { found, keep } = nssLookup("getpwuid_r", (_n, e, b, s, r) => sym.getpwuid_r(uid, e, b, s, r), "", entry);
  if (!found) return undefined;
  return passwdEntry(entry, keep);
}

function passwdEntry(entry: Uint8Array, keep: Uint8Array): PasswdEntry {
  const p = ptr(entry);
  const view = new DataView(entry.buffer);
  const result: PasswdEntry = {
    name: cString(read.intptr(p, 0)) ?? "",
    passwd: cString(read.intptr(p, 8)) ?? "",
    uid: view.getUint32(16, true),
    gid: view.getUint32(20, true),
    gecos: cString(read.intptr(p, 24)) ?? "",
    dir: cString(read.intptr(p, 32)) ?? "",
    shell: cString(read.intptr(p, 40)) ?? "",
  };
  keep.fill(0);
  return result;
}

/** getspnam_r: the shadow entry; undefined when absent; throws LibcError (EACCES when shadow is unreadable). */
export function getspnam(name: Uint8Array | string): ShadowEntry | undefined {
  const entry = new Uint8Array(72); // struct spwd on LP64: 2 pointers, 6 longs, 1 unsigned long
  const sym = libc();
  const { found, keep } = nssLookup("getspnam_r", (n, e, b, s, r) => sym.getspnam_r(n, e, b, s, r), name, entry);
  if (!found) return undefined;
  const p = ptr(entry);
  const view = new DataView(entry.buffer);
  const long = (offset: number) => Number(view.getBigInt64(offset, true));
  const result: ShadowEntry = {
    name: cString(read.intptr(p, 0)) ?? "",
    hash: cString(read.intptr(p, 8)),
    lastChange: long(16),
    min: long(24),
    max: long(32),
    warn: long(40),
    inactive: long(48),
    expire: long(56),
  };
  keep.fill(0);
  entry.fill(0);
  return result;
}

/** Pointer array (argv/envp) for execve; `keep` holds the strings alive until the call. */
function cStringArray(values: readonly (Uint8Array | string)[]): { array: BigUint64Array; keep: Buffer[] } {
  const keep = values.map(cBytes);
  const array = new BigUint64Array(keep.length + 1);
  keep.forEach((b, i) => { array[i] = BigInt(ptr(b)); });
  return { array, keep };
}

/**
 * execve(2): replaces the process; returns only by throwing LibcError.
 * Only fds without close-on-exec survive: Bun opens its own files close-on-exec,
 * so the program gets 0, 1, 2 (and any fd passed to clearCloseOnExec).
 */
/** pathexec_run's PATH when the environment has none. */
const DEFAULT_PATH = "/bin:/usr/bin";

/**
 * The files djb's pathexec_run tries for `name`, in order: itself when it has a slash, else each
 * PATH entry (an empty entry is the current directory).
 */
export function pathexecCandidates(name: string, path: string | undefined): string[] {
  if (name.includes("/")) return [name];
  return (path ?? DEFAULT_PATH).split(":").map((dir) => (dir === "" ? name : `${dir}/${name}`));
}

/**
 * The execve errors after which pathexec_run goes on to the next PATH entry (ENOENT silently;
 * the others are remembered); any other error stops the search there.
 */
export const PATHEXEC_TRIES_NEXT: readonly string[] = ["ENOENT", "EACCES", "EPERM", "EISDIR"];

/**
 * djb's pathexec_run around `attempt` (an execve, or a spawn): tries each candidate file for
 * `name` in PATH order and returns what the first that works returns. Past ENOENT it moves
 * on; EACCES, EPERM and EISDIR are remembered and it moves on; any other error stops there.
 * Throws the error to report: the last one remembered, else the first ENOENT.
 */
export function pathexecRun<T>(name: string, path: string | undefined, attempt: (file: string) => T): T {
  let failure: unknown;
  for (const candidate of pathexecCandidates(name, path)) {
    try {
      return attempt(candidate);
    } catch (err) {
      const code = (err as { code?: string } | null)?.code;
      if (code !== "ENOENT" || failure === undefined) failure = err;
      if (code === undefined || !PATHEXEC_TRIES_NEXT.includes(code)) break;
    }
  }
  throw failure;
}

export function execve(path: string, argv: readonly string[], env: Readonly<Record<string, string>>): never {
  const file = cBytes(path);
  const args = cStringArray(argv);
  const envp = cStringArray(Object.entries(env).map(([k, v]) => `${k}=${v}`));
  libc().execve(file, args.array, envp.array);
  const errno = lastErrno();
  void args.keep; void envp.keep;
  throw new LibcError("execve", errno);
}

const F_GETFD = 1;
const F_SETFD = 2;
const FD_CLOEXEC = 1;

/** Lets `fd` survive execve (clears FD_CLOEXEC). */
export function clearCloseOnExec(fd: number): void {
  const flags = libc().fcntl(fd, F_GETFD, 0);
  if (flags < 0) throw new LibcError("fcntl", lastErrno());
  if ((flags & FD_CLOEXEC) === 0) return;
  if (libc().fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC) < 0) throw new LibcError("fcntl", lastErrno());
}

/**
 * Bun ignores SIGPIPE and SIGXFSZ, and ignored signals stay ignored across execve:
 * put them back to the default before running the next program, as a C parent would have them.
 */
export function restoreDefaultSignals(): void {
  const SIG_DFL = null;
  const { signals } = nodeOs().constants;
  for (const signal of [signals.SIGPIPE, signals.SIGXFSZ]) libc().signal(signal, SIG_DFL);
}

/**
 * Whether `fd` (0, 1 or 2) was closed when this program was started (`prog <&-`). Bun then
 * opens /dev/null on it before any of our code runs, so reading cannot tell; but it opens
 * it close-on-exec, and a descriptor inherited through execve never carries that flag
 * (it would have been closed), so the flag says the runtime put it there.
 */
export function closedAtStart(fd: number): boolean {
  const flags = libc().fcntl(fd, F_GETFD, 0);
  if (flags < 0) return true; // EBADF: not open at all
  return (flags & FD_CLOEXEC) !== 0;
}
