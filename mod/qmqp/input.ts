/**
 * Reading the request from fd 0 (the connection, under serve) with one deadline for the
 * whole request, as qmail-qmqpd's alarm(3600) bounds it.
 */
import { readSync } from "node:fs";
import { pollReadable } from "../sys/poll.ts";

const CHUNK = 64 * 1024;

export type ReadOutcome = "complete" | "eof" | "timeout";

/** Feeds `consume` until it says the request is complete; never reads past what it takes. */
export function readRequest(fd: number, deadline: number, consume: (chunk: Uint8Array) => boolean, now: () => number = Date.now): ReadOutcome {
  const buf = new Uint8Array(CHUNK);
  for (;;) {
    const left = deadline - now();
    if (left <= 0) return "timeout";
    const ready = pollReadable(fd, Math.min(left, 2 ** 31 - 1));
    if (ready === "timeout") return "timeout";
    if (ready === "interrupted") continue;
    let got: number;
    try {
      got = readSync(fd, buf, 0, buf.length, null);
    } catch (err) {
      if ((err as { code?: string }).code === "EAGAIN") continue;
      return "eof";
    }
    if (got === 0) return "eof";
    if (consume(buf.subarray(0, got))) return "complete";
  }
}
