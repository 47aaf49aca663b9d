/**
 * TCPREMOTEINFO: the RFC 1413 (ident) query tcpserver makes by default (-r), as ucspi-tcp
 * 0.88 remoteinfo.c: connect from the local address to the client's port 113, send
 * "REMOTEPORT , LOCALPORT\r\n", keep what follows the third colon of the answer (spaces,
 * tabs and CRs dropped) up to the newline. The whole query is bounded by -t seconds.
 */
import { nodeNet } from "../sys/builtins.ts";

/** remoteinfo.c stops collecting after this many characters (and counts the answer as good). */
const IDENT_INFO_MAX = 256;

/**
 * Octets read before an answer is given up (TCPREMOTEINFO then unset, as when the query times
 * out). An answer is one short line (RFC 1413: a user id of at most 512 octets, here at most
 * IDENT_INFO_MAX kept); remoteinfo.c reads on until the timeout, in a child of tcpserver's for
 * that one connection, but serve asks in the process that serves every connection, where an
 * identd of the client's that streams octets without a newline (or without its colons) would
 * take a core for the whole -t.
 */
export const IDENT_REPLY_MAX = 1024;

const utf8 = new TextDecoder();

/** Sans-I/O reader of one ident answer. */
export class IdentReply {
  private colons = 0;
  private readonly info: number[] = [];
  private finished = false;
  private octets = 0;
  /** More than IDENT_REPLY_MAX octets came without a complete answer: there is none. */
  tooLong = false;

  /** Feeds bytes; returns the info when the answer is complete, else undefined (see tooLong). */
  feed(bytes: Uint8Array): string | undefined {
    for (const byte of bytes) {
      if (this.finished) break;
      if (++this.octets > IDENT_REPLY_MAX) {
        this.tooLong = true;
        return undefined;
      }
      if (byte === 0x20 || byte === 0x09 || byte === 0x0d) continue;
      if (byte === 0x0a) { this.finished = true; break; }
      if (this.colons < 3) {
        if (byte === 0x3a) this.colons++;
        continue;
      }
      this.info.push(byte);
      if (this.info.length > IDENT_INFO_MAX) this.finished = true;
    }
    if (!this.finished) return undefined;
    // As UTF-8, the encoding of the program's environment and of the rules' info@ip keys, so
    // a UTF-8 name reaches both as the bytes identd sent (invalid bytes become U+FFFD). Up to a
    // NUL, as tcpserver's C string ends there (a NUL in an environment value would make the
    // program's start fail, and the client's connection with it).
    const nul = this.info.indexOf(0);
    return utf8.decode(Uint8Array.from(nul < 0 ? this.info : this.info.slice(0, nul)));
  }
}

export interface IdentQuery {
  localIp: string;
  localPort: number;
  remoteIp: string;
  remotePort: number;
  timeoutSeconds: number;
  /** Port of the ident service: 113 (a test may point elsewhere). */
  identPort?: number;
}

/** Asks the client's identd; undefined when anything fails or the time runs out (TCPREMOTEINFO then unset). */
export function identLookup(q: IdentQuery): Promise<string | undefined> {
  return new Promise((resolve) => {
    const reply = new IdentReply();
    let settled = false;
    const socket = nodeNet().connect({ host: q.remoteIp, port: q.identPort ?? 113, localAddress: q.localIp });
    const finish = (info: string | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(info);
    };
    const timer = setTimeout(() => finish(undefined), Math.max(0, q.timeoutSeconds) * 1000);
    socket.on("connect", () => socket.write(`${q.remotePort} , ${q.localPort}\r\n`));
    socket.on("data", (chunk: Buffer) => {
      const info = reply.feed(chunk);
      if (info !== undefined || reply.tooLong) finish(info);
    });
    socket.on("error", () => finish(undefined));
    socket.on("close", () => finish(undefined));
  });
}
