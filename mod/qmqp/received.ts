/**
 * The header lines put on a message: qmail's received.c line for QMQP, and qmail-local's
 * Return-Path and Delivered-To for Maildir delivery. Names from the environment are
 * written through qmail's safeput (anything outside [A-Za-z0-9.@%+/=:-] becomes "?").
 */
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

function safe(text: string): string {
  return text.replace(/[^A-Za-z0-9.@%+/=:-]/g, "?");
}

/** qmail's date822fmt: "21 Nov 2026 23:50:01 -0000" (UTC). */
export function date822(date: Date): string {
  const two = (n: number) => String(n).padStart(2, "0");
  return `${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()} ${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} -0000`;
}

/** "Received: from HOST (INFO@IP)\n  by LOCAL with QMQP; DATE\n", from the UCSPI variables as qmail-qmqpd reads them. */
export function receivedLine(env: NodeJS.ProcessEnv, date: Date): string {
  const host = env.TCPREMOTEHOST ?? "unknown";
  const info = env.TCPREMOTEINFO;
  const ip = env.TCPREMOTEIP ?? "unknown";
  const local = env.TCPLOCALHOST ?? env.TCPLOCALIP ?? "unknown";
  const who = info !== undefined ? `${safe(info)}@${safe(ip)}` : safe(ip);
  return `Received: from ${safe(host)} (${who})\n  by ${safe(local)} with QMQP; ${date822(date)}\n`;
}

/**
 * qmail-local's Return-Path and Delivered-To: each LF in the address becomes "_" (as
 * qmail-local does to rpline and dtline), so an envelope address cannot end the header line
 * and start a forged one. A CR becomes "_" too: qmail-local's messages only ever end lines
 * with LF, but a POP3 client would see CR LF.
 */
export function localDeliveryHeader(sender: Uint8Array, recipient: Uint8Array): Uint8Array {
  return Buffer.concat([
    Buffer.from("Return-Path: <"), headerSafe(sender), Buffer.from(">\nDelivered-To: "), headerSafe(recipient), Buffer.from("\n"),
  ]);
}

const UNDERSCORE = 0x5f;

/** A copy of `address` with every LF and CR replaced by "_". */
export function headerSafe(address: Uint8Array): Uint8Array {
  const out = Buffer.from(address);
  for (let i = 0; i < out.length; i++) if (out[i] === 0x0a || out[i] === 0x0d) out[i] = UNDERSCORE;
  return out;
}
