/**
 * Splitting an mbox spool into messages, as mbox readers do, in one streaming pass:
 * - a message starts at a line beginning "From " at the start of the file, after an
 *   empty line, or anywhere when the line has the From_ line's shape (sender and date);
 * - where the header has a `Content-Length:` that points exactly at the next From_
 *   line or the end of the spool (Solaris mail.local, Qpopper's CONTENT_LENGTH), the
 *   body is that long and "From " lines inside it do not split;
 * - `>From ` quoting is left as stored; the empty line mbox writers add after each
 *   message is not part of it.
 */
import { readSync } from "node:fs";
import { PermError } from "../base/errors.ts";
import { LineReader, type SkipTally } from "./line_reader.ts";
import { addHiddenRange, HIDDEN_FIELDS } from "./hidden.ts";
import type { MboxMessage } from "./message.ts";
import { UidlAllocator, VOLATILE_FIELDS } from "./uidl.ts";

const LF = 10;
const CR = 13;

/** "From sender Www Mmm dd hh:mm" (ctime after the sender), as mutt's is_from() accepts. */
const FROM_LINE = /^From \S+ +(?:[A-Z][a-z]{2} +)?[A-Z][a-z]{2} +[0-9]{1,2} +[0-9]{1,2}:[0-9]{2}/;

function startsWithFrom(view: Uint8Array): boolean {
  return view.length >= 5 && view[0] === 0x46 && view[1] === 0x72 && view[2] === 0x6f && view[3] === 0x6d && view[4] === 0x20;
}

function isBlank(view: Uint8Array): boolean {
  return (view.length === 1 && view[0] === LF) || (view.length === 2 && view[0] === CR && view[1] === LF);
}

function latin1(view: Uint8Array): string {
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString("latin1");
}

/** The fields whose values the scanner keeps (the rest are only hashed). */
const KEPT_FIELDS: ReadonlySet<string> = new Set(["status", "x-status", "x-uidl", "content-length", "x-uid", "x-imapbase", "x-imap"]);
const MAX_KEPT_FIELDS = 64;

interface Field { name: string; value: string; from: number; to: number }

/** The message being read. */
class Builder {
  readonly fromOffset: number;
  readonly start: number;
  readonly fromLine: Uint8Array;
  readonly hash = new Bun.CryptoHasher("md5");
  inHeaders = true;
  headerEnd = -1;
  bodyStart = -1;
  eol: "\n" | "\r\n" = "\n";
  crlf = 0;
  /** CRLF octets of lines at or after clEnd (the separator, not the message). */
  crlfAfterEnd = 0;
  clEnd = -1;
  fields: Field[] = [];
  current: Field | undefined;
  currentVolatile = false;
  /** The field being read is one POP3 does not show (hidden.ts), and its range was recorded. */
  currentHidden = false;
  hidden: [number, number][] = [];

  constructor(offset: number, line: Uint8Array) {
    this.fromOffset = offset;
    this.start = offset + line.length;
    const text = line[line.length - 1] === LF ? line.subarray(0, line.length - 1) : line;
    this.fromLine = new Uint8Array(text);
    this.hash.update(this.fromLine);
  }

  value(name: string): string | undefined {
    return this.fields.find((f) => f.name === name)?.value.trim();
  }
}

/** A decimal 32-bit number (an IMAP UID or UIDVALIDITY), or undefined. */
function uint32(text: string | undefined): number | undefined {
  if (text === undefined || !/^[0-9]{1,10}$/.test(text)) return undefined;
  const n = Number(text);
  return n > 0 && n <= 0xffffffff ? n : undefined;
}

export interface ScanResult {
  messages: MboxMessage[];
  /** The octets scanned: the spool's size when it was read. */
  size: number;
}

/** Whether a Content-Length may be trusted: the body it gives ends at a line start, before "From " or the end. */
function contentLengthFits(fd: number, clEnd: number, size: number): boolean {
  if (clEnd === size) return true;
  if (clEnd > size) return false;
  const probe = Buffer.alloc(7);
  const n = readSync(fd, probe, 0, 7, clEnd - 1);
  const text = probe.subarray(0, n).toString("latin1");
  return text.startsWith("\nFrom ") || text.startsWith("\n\nFrom ");
}

/**
 * Reads the spool open on `fd` up to `size`. Throws PermError when it is not an mbox.
 * `resume` continues an earlier scan: its messages are kept and the scan starts at `from`
 * (a From_ line: where the earlier scan's last message began).
 */
export function scanMbox(fd: number, size: number, what = "spool", resume?: { messages: readonly MboxMessage[]; from: number }): ScanResult {
  const from = resume?.from ?? 0;
  const reader = new LineReader(fd, from, size);
  const messages: MboxMessage[] = [...(resume?.messages ?? [])];
  const uidls = new UidlAllocator();
  for (const m of messages) uidls.allocate(m.ownUidl, m.derivedUidl); // the same UIDLs as a scan from the start
  let m: Builder | undefined;
  let prevBlankLen = 0; // length of the previous line when it was empty, else 0
  let prevEndedCR = false;

  const finish = (at: number) => {
    if (!m) return;
    let end: number;
    let crlf = m.crlf;
    if (m.clEnd >= 0) {
      end = m.clEnd;
      crlf -= m.crlfAfterEnd;
    } else if (prevBlankLen > 0 && at - prevBlankLen >= m.start) {
      end = at - prevBlankLen;
      crlf -= 2;
    } else end = at;
    if (m.inHeaders) {
      m.headerEnd = end;
      m.bodyStart = end;
    }
    m.hash.update(`\0${end - m.bodyStart}`);
    const status = m.fields.find((f) => f.name === "status");
    const ownUidl = m.value("x-uidl");
    const derivedUidl = m.hash.digest("hex");
    const xUid = uint32(m.value("x-uid"));
    const uidValidity = uint32((m.value("x-imapbase") ?? m.value("x-imap"))?.split(/\s+/)[0]);
    messages.push({
      fromOffset: m.fromOffset, start: m.start, headerEnd: m.headerEnd, end, next: at, crlfSize: crlf,
      uidl: uidls.allocate(ownUidl, derivedUidl), ownUidl, derivedUidl, fromLine: m.fromLine,
      status: status?.value.trim() ?? "", xStatus: m.value("x-status") ?? "",
      statusField: status ? [status.from, status.to] : undefined, eol: m.eol,
      hiddenFields: m.hidden.length > 0 ? m.hidden : undefined,
      ...(xUid !== undefined ? { xUid } : {}), ...(uidValidity !== undefined ? { uidValidity } : {}),
    });
    m = undefined;
  };

  const tally: SkipTally = { octets: 0, lines: 0, crlf: 0, lastBlankLen: 0 };
  for (;;) {
    if (m !== undefined && !m.inHeaders && reader.atLineStart && (m.clEnd < 0 || reader.nextOffset < m.clEnd)) {
      // Body lines: only sizes and the next From_ line matter, so skip them in bulk.
      tally.octets = tally.lines = tally.crlf = 0;
      reader.skipLines(m.clEnd < 0 ? Infinity : m.clEnd, tally);
      if (tally.lines > 0) {
        m.crlf += tally.octets + tally.lines - tally.crlf;
        prevBlankLen = tally.lastBlankLen;
        prevEndedCR = false;
      }
    }
    if (!reader.next()) break;
    const view = reader.view;
    const off = reader.offset;
    if (reader.lineStart && startsWithFrom(view) && (m === undefined || m.clEnd < 0 || off >= m.clEnd)) {
      const atBoundary = off === from || prevBlankLen > 0 || (m !== undefined && off === m.clEnd) || FROM_LINE.test(latin1(view.subarray(0, 200)));
      if (atBoundary) {
        finish(off);
        m = new Builder(off, view);
        prevBlankLen = 0;
        prevEndedCR = false;
        continue;
      }
    }
    if (m === undefined) {
      if (off === from) throw new PermError(`${what} is not an mbox file: it does not start with a From_ line`);
      continue;
    }
    // CRLF size: the piece's octets, plus one for a bare LF ending it.
    let add = view.length;
    if (reader.endsLine) {
      const before = view.length >= 2 ? view[view.length - 2] === CR : prevEndedCR && view.length === 1;
      if (!before) add++;
    }
    prevEndedCR = !reader.endsLine && view.length > 0 && view[view.length - 1] === CR;
    const blank = reader.lineStart && reader.endsLine && isBlank(view);
    // A piece of a hidden header field counts for nothing: POP3 does not send it.
    const hidden = m.inHeaders && readHeaderLine(m, view, off, reader.lineStart, blank, fd, size);
    if (!hidden) {
      m.crlf += add;
      if (m.clEnd >= 0 && off >= m.clEnd) m.crlfAfterEnd += add;
    }
    prevBlankLen = blank ? view.length : 0;
  }
  finish(size);
  return { messages, size };
}

/** Reads one piece of the header section; returns whether it belongs to a hidden field. */
function readHeaderLine(m: Builder, view: Buffer, off: number, lineStart: boolean, blank: boolean, fd: number, size: number): boolean {
  if (blank) {
    m.inHeaders = false;
    m.currentHidden = false;
    m.headerEnd = off;
    m.bodyStart = off + view.length;
    m.eol = view.length === 2 ? "\r\n" : "\n";
    m.current = undefined;
    const cl = m.value("content-length");
    if (cl !== undefined && /^[0-9]{1,15}$/.test(cl)) {
      const clEnd = m.bodyStart + Number(cl);
      if (contentLengthFits(fd, clEnd, size)) m.clEnd = clEnd;
    }
    return false;
  }
  const continuation = lineStart && (view[0] === 0x20 || view[0] === 0x09);
  if (lineStart && !continuation) {
    const colon = view.indexOf(0x3a);
    const name = colon > 0 && colon < 80 ? latin1(view.subarray(0, colon)).trimEnd().toLowerCase() : "";
    m.current = undefined;
    if (KEPT_FIELDS.has(name) && m.fields.length < MAX_KEPT_FIELDS) {
      m.current = { name, value: latin1(view.subarray(colon + 1)), from: off, to: off + view.length };
      m.fields.push(m.current);
    }
    m.currentVolatile = VOLATILE_FIELDS.has(name);
    m.currentHidden = HIDDEN_FIELDS.has(name) && addHiddenRange(m.hidden, off - m.start, off + view.length - m.start);
  } else {
    if (m.current) {
      m.current.to = off + view.length;
      if (m.current.value.length < 4096) m.current.value += latin1(view);
    }
    // A continuation line, or the rest of a long line: part of the field it follows.
    if (m.currentHidden) m.hidden[m.hidden.length - 1]![1] = off + view.length - m.start;
  }
  if (!m.currentVolatile) m.hash.update(view);
  return m.currentHidden;
}
