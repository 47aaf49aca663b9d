/**
 * Counting a message's size as POP3 sends it: every line ends in CRLF, so each
 * bare LF (one not preceded by CR) costs one more octet. Dot-stuffing is not
 * counted (RFC 1939 section 11), which is also Dovecot's `,W=` ("virtual size").
 */
import { closeSync, readSync } from "node:fs";
import { openRegularFile } from "../sys/owned_file.ts";

const LF = 0x0a;
const CR = 0x0d;

/** Streaming counter: feed chunks in order; `crlfSize` is valid after any chunk. */
export class CrlfCounter {
  fileSize = 0;
  bareLf = 0;
  private lastByte = -1;

  update(chunk: Uint8Array): void {
    const n = chunk.length;
    if (n === 0) return;
    const prev = this.lastByte;
    let bare = 0;
    let i = chunk.indexOf(LF);
    while (i >= 0) {
      const before = i === 0 ? prev : chunk[i - 1];
      if (before !== CR) bare++;
      i = chunk.indexOf(LF, i + 1);
    }
    this.bareLf += bare;
    this.fileSize += n;
    this.lastByte = chunk[n - 1];
  }

  get crlfSize(): number {
    return this.fileSize + this.bareLf;
  }
}

/** Size as sent with CRLF line ends, of a whole message in memory. */
export function crlfSizeOf(bytes: Uint8Array): number {
  const counter = new CrlfCounter();
  counter.update(bytes);
  return counter.crlfSize;
}

const READ_CHUNK = 256 * 1024;

/**
 * Reads a file once, streaming, and returns its file size and CRLF size. Throws the system error
 * (EFTYPE for anything but a regular file, ELOOP for a symbolic link: a message is opened as
 * RETR opens it, so a FIFO swapped in after the listing's stat cannot block the count).
 */
export function crlfSizeOfFile(path: string, buffer: Uint8Array = new Uint8Array(READ_CHUNK)): { fileSize: number; crlfSize: number } {
  const { fd } = openRegularFile(path, "read", { follow: false });
  try {
    const counter = new CrlfCounter();
    for (;;) {
      const got = readSync(fd, buffer, 0, buffer.length, null);
      if (got === 0) break;
      counter.update(buffer.subarray(0, got));
    }
    return { fileSize: counter.fileSize, crlfSize: counter.crlfSize };
  } finally {
    closeSync(fd);
  }
}
