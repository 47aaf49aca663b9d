/**
 * A sealed in-memory file (memfd_create + F_ADD_SEALS through bun:ffi): bytes written once,
 * then no process holding the descriptor can change, grow or shrink them. serve hands the
 * same one to every session it starts (the TLS key material for popup's STLS), so a session
 * can read it but never alter what the next session gets.
 */
import { writeSync } from "node:fs";
import { SysCallError, lastErrno, libcFunctions } from "./ffi.ts";
import { cBytes } from "./libc.ts";

const libc = libcFunctions({
  memfd_create: { args: ["ptr", "u32"], returns: "i32" },
  fcntl: { args: ["i32", "i32", "i32"], returns: "i32" },
}).symbols;

const MFD_CLOEXEC = 1;
const MFD_ALLOW_SEALING = 2;
const F_ADD_SEALS = 1033;
const F_SEAL_SEAL = 1;
const F_SEAL_SHRINK = 2;
const F_SEAL_GROW = 4;
const F_SEAL_WRITE = 8;

/** A close-on-exec descriptor of a sealed memory file holding `bytes` (inherit it explicitly). */
export function sealedFile(name: string, bytes: Uint8Array): number {
  const fd = libc().memfd_create(cBytes(name), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) throw new SysCallError("memfd_create", lastErrno());
  for (let done = 0; done < bytes.length;) done += writeSync(fd, bytes, done, bytes.length - done);
  if (libc().fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) throw new SysCallError("fcntl", lastErrno());
  return fd;
}
