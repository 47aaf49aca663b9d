/**
 * tzset + localtime_r through bun:ffi: local time exactly as the C library computes it
 * for daemontools' tai64nlocal (TZ as a zone name, a POSIX rule such as "EST5EDT" or
 * "<+03>-3", ":/path", leap-second "right/" zones, or /etc/localtime when unset).
 * Falls back to the JavaScript Date (same zones by name, not every POSIX rule) when
 * libc cannot be opened.
 */
import { dlopen, ptr } from "bun:ffi";

/** The fields of struct tm that tai64nlocal prints. */
export interface BrokenDownTime {
  /** Years since 1900, as tm_year. */
  year: number;
  /** 0..11, as tm_mon. */
  mon: number;
  mday: number;
  hour: number;
  min: number;
  /** 0..60 (60 only in leap-second zones). */
  sec: number;
}

function openLibc() {
  return dlopen("libc.so.6", {
    tzset: { args: [], returns: "void" },
    localtime_r: { args: ["ptr", "ptr"], returns: "ptr" },
  });
}

let handle: ReturnType<typeof openLibc> | null | undefined;
const timeT = new BigInt64Array(1);
/** struct tm on LP64 glibc: nine ints, long tm_gmtoff, const char *tm_zone (56 bytes). */
const tm = new Int32Array(14);

function libc(): ReturnType<typeof openLibc> | null {
  if (handle === undefined) {
    try {
      handle = openLibc();
      handle.symbols.tzset();
    } catch {
      handle = null;
    }
  }
  return handle;
}

/** localtime(secs), or null where the C library refuses it (a year that does not fit an int). */
export function localTime(secs: bigint): BrokenDownTime | null {
  const lib = libc();
  if (lib !== null) {
    timeT[0] = secs;
    if (lib.symbols.localtime_r(ptr(timeT), ptr(tm)) === null) return null;
    return { sec: tm[0], min: tm[1], hour: tm[2], mday: tm[3], mon: tm[4], year: tm[5] };
  }
  const ms = Number(secs) * 1000;
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return null;
  return {
    sec: d.getSeconds(), min: d.getMinutes(), hour: d.getHours(),
    mday: d.getDate(), mon: d.getMonth(), year: d.getFullYear() - 1900,
  };
}
