/**
 * `poppin serve --crypt-helper`: one of --inline's password-check processes. It reads
 * requests on fd 0 and answers on fd 1, one at a time, synchronously:
 *
 *   request: u32 id, u16 password length, u16 setting length, password, setting
 *   answer:  u32 id, u16 hash length (REFUSED: libcrypt refused the setting), hash
 *
 * (little-endian). It does nothing but crypt_r, and exits at the end of its input.
 * Before it reads anything it makes itself non-dumpable and checks that nothing traces
 * it (a tracer attached in the moment after exec would keep its access): no other process
 * of its uid can read the passwords and hashes that pass through it.
 * Processes rather than threads: yescrypt maps and unmaps 16 MiB per check, and in one
 * multi-threaded process every unmap interrupts the other threads' CPUs to flush their
 * TLBs; two helper processes checked 14% more yescrypt hashes a second than two threads
 * on this 2-core machine. Each helper keeps that region from one check to the next
 * (mod/sys/crypt_region.ts): no page faults, about 40% less CPU per yescrypt check.
 */
import { readSync } from "node:fs";
import { describeSysError } from "../base/errors.ts";
import { writeAll, writeStderr } from "../base/io.ts";
import { cryptHash } from "../sys/crypt.ts";
import { keepYescryptRegion } from "../sys/crypt_region.ts";
import { makeUndumpable, tracerPid } from "../sys/dumpable.ts";

export const CRYPT_HELPER_FLAG = "--crypt-helper";
export const REQUEST_HEADER = 8;
export const ANSWER_HEADER = 6;
export const REFUSED = 0xffff;
/** Longest password and setting a request carries (checkpassword's whole input is 512 octets). */
export const MAX_FIELD = 0xfff0;

function readFully(fd: number, buf: Uint8Array): boolean {
  let got = 0;
  while (got < buf.length) {
    let n: number;
    try {
      n = readSync(fd, buf, got, buf.length - got, null);
    } catch (e) {
      if ((e as { code?: string }).code === "EINTR" || (e as { code?: string }).code === "EAGAIN") continue;
      throw e;
    }
    if (n === 0) {
      if (got === 0) return false;
      throw new Error("truncated request");
    }
    got += n;
  }
  return true;
}

/** Exit status of a helper that refused to start (serve fails the check it was started for). */
const HELPER_REFUSED = 111;

export function runCryptHelper(): number {
  try {
    makeUndumpable();
  } catch (e) {
    writeStderr(`poppin serve: fatal: crypt helper: unable to make itself non-dumpable: ${describeSysError(e)}\n`);
    return HELPER_REFUSED;
  }
  const tracer = tracerPid();
  if (tracer !== 0) {
    writeStderr(`poppin serve: fatal: crypt helper: traced by pid ${tracer}, refusing to handle passwords\n`);
    return HELPER_REFUSED;
  }
  // Many checks in one process: yescrypt's region is kept between them (mod/sys/crypt_region.ts).
  keepYescryptRegion();
  const header = new Uint8Array(REQUEST_HEADER);
  const view = new DataView(header.buffer);
  for (;;) {
    if (!readFully(0, header)) return 0;
    const id = view.getUint32(0, true);
    const password = new Uint8Array(view.getUint16(4, true));
    const setting = new Uint8Array(view.getUint16(6, true));
    readFully(0, password);
    readFully(0, setting);
    let hash: string | undefined;
    try {
      hash = cryptHash(password, Buffer.from(setting).toString("latin1"));
    } finally {
      password.fill(0);
    }
    const text = hash === undefined ? new Uint8Array(0) : Buffer.from(hash, "latin1");
    const answer = new Uint8Array(ANSWER_HEADER + text.length);
    const out = new DataView(answer.buffer);
    out.setUint32(0, id, true);
    out.setUint16(4, hash === undefined ? REFUSED : text.length, true);
    answer.set(text, ANSWER_HEADER);
    writeAll(1, answer);
  }
}
