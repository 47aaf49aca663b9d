/**
 * tcpserver's -v log lines, byte for byte as ucspi-tcp 0.88 writes them (log analysers
 * match them): they always start with "tcpserver: ", whatever name serve was called by.
 */
import { constants } from "node:os";
import type { ConnectionFacts } from "./environment.ts";

const PREFIX = "tcpserver: ";
/** tcpserver's safecats copies at most 100 characters of a field, then writes "...". */
const SAFE_FIELD_MAX = 100;

const encoder = new TextEncoder();

/**
 * tcpserver's safecats: unprintable bytes, '%' (logger stupidity, says djb) and ':' become '?'.
 * It works on the bytes (as UTF-8, the way the program gets the value), so "é" is "??" as there.
 */
export function safeField(text: string): string {
  const bytes = encoder.encode(text);
  let out = "";
  for (let i = 0; i < bytes.length; i++) {
    if (i === SAFE_FIELD_MAX) return `${out}...`;
    const c = bytes[i];
    out += c < 33 || c > 126 || c === 0x25 || c === 0x3a ? "?" : String.fromCharCode(c);
  }
  return out;
}

export function statusLine(children: number, limit: number): string {
  return `${PREFIX}status: ${children}/${limit}\n`;
}

export function pidLine(pid: number, remoteIp: string): string {
  return `${PREFIX}pid ${pid} from ${remoteIp}\n`;
}

/** "ok PID localhost:localip:localport remotehost:remoteip:remoteinfo:remoteport" (or "deny ..."). */
export function verdictLine(allowed: boolean, pid: number, f: ConnectionFacts): string {
  const local = `${safeField(f.localHost ?? "")}:${safeField(f.localIp)}:${safeField(String(f.localPort))}`;
  const remote = `${safeField(f.remoteHost ?? "")}:${safeField(f.remoteIp)}:${safeField(f.remoteInfo ?? "")}:${safeField(String(f.remotePort))}`;
  return `${PREFIX}${allowed ? "ok" : "deny"} ${safeField(String(pid))} ${local} ${remote}\n`;
}

export function endLine(pid: number, waitStatus: number): string {
  return `${PREFIX}end ${pid} status ${waitStatus}\n`;
}

/** The wait(2) status tcpserver prints: exit code << 8, or the signal number. */
export function waitStatus(exitCode: number | null, signal: string | number | null): number {
  if (typeof signal === "number") return signal;
  if (signal) return (constants.signals as Record<string, number>)[signal] ?? 0;
  return ((exitCode ?? 0) & 0xff) << 8;
}
