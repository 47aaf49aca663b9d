/**
 * What a spool becomes at QUIT, as a list of segments of the old spool and new bytes:
 * deleted messages are left out whole (From_ line to the next From_), retrieved ones get
 * `Status: RO` (Qpopper's update-status-headers), the rest is copied as it is, including
 * mail that arrived after the session started.
 */
import { addHiddenRange, MAX_HIDDEN_RANGES } from "./hidden.ts";
import type { MboxMessage } from "./message.ts";

export type Segment = { kind: "copy"; from: number; to: number } | { kind: "bytes"; bytes: Uint8Array };

export interface RewritePlan {
  segments: Segment[];
  oldLength: number;
  newLength: number;
  /** The first output offset that differs from the old spool: everything before it stays. */
  firstChange: number;
  /** Messages left out. */
  removed: number;
  /**
   * The messages as a scan of the new spool would find them (offsets moved, Status: RO and
   * sizes updated), so the scan cache can be kept; undefined when the spool holds mail the
   * plan knows nothing of (it grew after `messages` were scanned) or no `fieldCrlf` was given.
   */
  after?: MboxMessage[];
}

const READ_STATUS = "RO";

/**
 * `fieldCrlf(m)` gives the CRLF size of m's Status: field (needed only to compute `after`).
 */
export function planRewrite(messages: readonly MboxMessage[], size: number, deleted: ReadonlySet<string>, retrieved: ReadonlySet<string>, updateStatus: boolean, fieldCrlf?: (m: MboxMessage) => number): RewritePlan {
  const segments: Segment[] = [];
  const copy = (from: number, to: number) => {
    if (to <= from) return;
    const last = segments[segments.length - 1];
    if (last?.kind === "copy" && last.to === from) last.to = to;
    else segments.push({ kind: "copy", from, to });
  };
  let removed = 0;
  const after: MboxMessage[] = [];
  let outPos = 0;
  if (messages.length > 0 && messages[0]!.fromOffset > 0) {
    copy(0, messages[0]!.fromOffset);
    outPos = messages[0]!.fromOffset;
  }
  for (const m of messages) {
    if (deleted.has(m.uidl)) {
      removed++;
      continue;
    }
    const shift = outPos - m.fromOffset;
    if (updateStatus && retrieved.has(m.uidl) && m.status !== READ_STATUS) {
      const line = new TextEncoder().encode(`Status: ${READ_STATUS}${m.eol}`);
      const [from, to] = m.statusField ?? [m.headerEnd, m.headerEnd];
      copy(m.fromOffset, from);
      segments.push({ kind: "bytes", bytes: line });
      copy(to, m.next);
      const delta = line.length - (to - from);
      const at = from + shift;
      const hiddenFields = withStatusReplaced(m, from, to, line.length);
      after.push({
        ...m, fromOffset: m.fromOffset + shift, start: m.start + shift, headerEnd: m.headerEnd + shift + delta,
        end: m.end + shift + delta, next: m.next + shift + delta, status: READ_STATUS, statusField: [at, at + line.length],
        hiddenFields,
        // Status: is hidden from POP3 (hidden.ts), so the size a client sees stays unless it was shown (past the bound).
        crlfSize: statusHidden(m, from, to) ? m.crlfSize : m.crlfSize + line.length + (m.eol === "\n" ? 1 : 0) - (fieldCrlf ? fieldCrlf(m) : 0),
      });
      outPos = m.next + shift + delta;
      continue;
    }
    copy(m.fromOffset, m.next);
    after.push(shift === 0 ? m : {
      ...m, fromOffset: m.fromOffset + shift, start: m.start + shift, headerEnd: m.headerEnd + shift, end: m.end + shift, next: m.next + shift,
      statusField: m.statusField ? [m.statusField[0] + shift, m.statusField[1] + shift] : undefined,
    });
    outPos = m.next + shift;
  }
  const tailFrom = messages.length > 0 ? messages[messages.length - 1]!.next : 0;
  copy(tailFrom, size);
  let out = 0;
  let firstChange = -1;
  for (const s of segments) {
    if (firstChange < 0 && (s.kind === "bytes" || s.from !== out)) firstChange = out;
    out += s.kind === "copy" ? s.to - s.from : s.bytes.length;
  }
  if (firstChange < 0) firstChange = out; // unchanged, or only cut at the end
  return { segments, oldLength: size, newLength: out, firstChange, removed, after: fieldCrlf && tailFrom >= size ? after : undefined };
}

/** Whether the Status: field at [from, to) (absolute) is inside one of m's hidden ranges; an absent one (from = to) is hidden if it can be. */
function statusHidden(m: MboxMessage, from: number, to: number): boolean {
  const ranges = m.hiddenFields ?? [];
  if (from === to) return ranges.length < MAX_HIDDEN_RANGES || ranges.some(([, b]) => m.start + b === from);
  return ranges.some(([a, b]) => m.start + a <= from && to <= m.start + b);
}

/** m's hidden ranges once the Status: field at [from, to) is replaced by `length` octets (a new one hidden too). */
function withStatusReplaced(m: MboxMessage, from: number, to: number, length: number): [number, number][] | undefined {
  const rel = [from - m.start, to - m.start] as const;
  const delta = length - (to - from);
  const out: [number, number][] = [];
  let placed = !statusHidden(m, from, to);
  for (const [a, b] of m.hiddenFields ?? []) {
    if (b < rel[0] || (b === rel[0] && rel[0] !== rel[1])) out.push([a, b]);
    else if (a > rel[1] || (a === rel[1] && rel[0] !== rel[1])) {
      if (!placed) { addHiddenRange(out, rel[0], rel[0] + length); placed = true; }
      addHiddenRange(out, a + delta, b + delta);
    } else {
      // The range holding the field (or touching the place a new one goes): it grows by delta.
      addHiddenRange(out, Math.min(a, rel[0]), Math.max(b, rel[1]) + delta);
      placed = true;
    }
  }
  if (!placed) addHiddenRange(out, rel[0], rel[0] + length);
  return out.length > 0 ? out : undefined;
}

/** Whether applying the plan would change nothing. */
export function planIsNoop(plan: RewritePlan): boolean {
  return plan.firstChange === plan.oldLength && plan.newLength === plan.oldLength;
}

/** The segments from output offset `at` on (`at` falls on a segment boundary or inside a copy). */
export function segmentsFrom(plan: RewritePlan, at: number): Segment[] {
  const out: Segment[] = [];
  let pos = 0;
  for (const s of plan.segments) {
    const len = s.kind === "copy" ? s.to - s.from : s.bytes.length;
    if (pos + len > at) {
      if (pos >= at) out.push(s);
      else if (s.kind === "copy") out.push({ kind: "copy", from: s.from + (at - pos), to: s.to });
      else out.push({ kind: "bytes", bytes: s.bytes.subarray(at - pos) });
    }
    pos += len;
  }
  return out;
}
