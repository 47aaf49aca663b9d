/**
 * TCPREMOTEINFO: the RFC 1413 (ident) query tcpserver makes by default (-r), as ucspi-tcp
 * 0.88 remoteinfo.c: connect from the local address to the client's port 113, send
 * "REMOTEPORT , LOCALPORT\r\n", keep what follows the third colon of the answer (spaces,
 * tabs and CRs dropped) up to the newline. The whole query is bounded by -t seconds.
 */
import { nodeNet } from "../sys/builtins.ts";

/** remoteinfo.c stops collecting after this many characters (and counts the answer as good). */
const IDENT_INFO_MAX = 256;

const utf8 = new TextDecoder();

/** Sans-I/O reader of one ident answer. */
export class IdentReply {
  private colons = 0;
  private readonly info: number[] = [];
  private finished = false;

  /** Feeds bytes; returns the info when the answer is complete, else undefined. */
  feed(bytes: Uint8Array): string | undefined {
    for (const byte of bytes) {
      if (this.finished) break;
      if (byte === 0x20 || byte === 0x09 || byte === 0x0d) continue;
      if (byte === 0x0a) { this.finished = true; break; }
      if (this.colons < 3) {
        if (byte === 0x3a) this.colons++;
        continue;
      }
      this.info.push(byte);
      if (this.info.length > IDENT_INFO_MAX) this.finished = true;
    }
    // As UTF-8, the encoding of the program's environment and of the rules' info@ip keys, so
    // a UTF-8 name reaches both as the bytes identd sent (invalid bytes become U+FFFD).
    return this.finished ? utf8.decode(Uint8Array.from(this.info)) : undefined;
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
      if (info !== undefined) finish(info);
    });
    socket.on("error", () => finish(undefined));
    socket.on("close", () => finish(undefined));
  });
}
