/**
 * What `poppin convert` shows while it works: on a terminal one line redrawn in place
 * (bar, messages, octets, rate, time left); otherwise a plain line every tenth of the way.
 */
import type { ConvertProgress } from "./mbox_to_maildir.ts";

const BAR = 24;

function mb(octets: number): string {
  return (octets / 1048576).toFixed(1);
}

function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return "--:--";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** The progress text without line end: "[#####...] 120/400 messages 3.1/10.0 MB 5.2 MB/s 0:02 left". */
export function progressText(p: ConvertProgress, bar: boolean): string {
  const fraction = p.totalOctets > 0 ? p.octets / p.totalOctets : p.totalMessages > 0 ? p.messages / p.totalMessages : 1;
  const rate = p.elapsedMs > 0 ? p.octets / (p.elapsedMs / 1000) : 0;
  const left = rate > 0 ? (p.totalOctets - p.octets) / rate : Infinity;
  const filled = Math.round(fraction * BAR);
  const head = bar ? `[${"#".repeat(filled)}${".".repeat(BAR - filled)}] ` : "";
  return `${head}${p.messages}/${p.totalMessages} messages ${mb(p.octets)}/${mb(p.totalOctets)} MB ${mb(rate)} MB/s ${clock(left)} left`;
}

/** Decides when to show progress: every 100 ms on a terminal, at each tenth otherwise (and always at the end). */
export class ProgressThrottle {
  #lastMs = -Infinity;
  #lastTenth = -1;
  constructor(private readonly tty: boolean) {}
  due(p: ConvertProgress): boolean {
    const end = p.messages === p.totalMessages;
    if (this.tty) {
      if (!end && p.elapsedMs - this.#lastMs < 100) return false;
      this.#lastMs = p.elapsedMs;
      return true;
    }
    const tenth = p.totalMessages > 0 ? Math.floor((p.messages * 10) / p.totalMessages) : 10;
    if (tenth === this.#lastTenth && !end) return false;
    if (end && tenth === this.#lastTenth && this.#lastTenth === 10) return false;
    this.#lastTenth = tenth;
    return true;
  }
}
