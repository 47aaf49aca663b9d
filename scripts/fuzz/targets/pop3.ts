/**
 * POP3: command lines, the line framer, the TRANSACTION state machine and the message
 * encoder. Invariants: nothing is deleted before QUIT (the only "update" action comes from
 * QUIT and names exactly the messages marked and not reset), STAT/LIST/UIDL agree with the
 * model, UIDLs never change, and the octets sent for a message are its announced size.
 */
import fc from "fast-check";
import { parseLine } from "../../../mod/pop3/command.ts";
import { LineFramer } from "../../../mod/pop3/line_framer.ts";
import { MAX_BAD_COMMANDS, MAX_COMMAND_OCTETS } from "../../../mod/pop3/limits.ts";
import { MessageEncoder } from "../../../mod/pop3/message_encoder.ts";
import { transactionSession } from "../../../mod/pop3/session.ts";
import { newTransactionState, type MessageInfo } from "../../../mod/pop3/transaction.ts";
import { crlfSizeOf } from "../../../mod/maildir/crlf.ts";
import { bytesOf, latin1, type FuzzTarget } from "../target.ts";

function fail(message: string): never {
  throw new Error(message);
}

/** Arbitrary octets, biased toward the ones that matter to a line protocol. */
const protocolByte = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 255 }) },
  { weight: 2, arbitrary: fc.constantFrom(0x0a, 0x0d, 0x20, 0x00, 0x2e, 0x09) },
);
const protocolBytes = (maxLength: number) => fc.array(protocolByte, { maxLength }).map((a) => Uint8Array.from(a));

export const pop3Command: FuzzTarget = {
  name: "pop3-command",
  module: "mod/pop3/command.ts",
  ciRuns: 3000,
  check(numRuns, seed) {
    fc.assert(fc.property(protocolBytes(300), (bytes) => {
      const parsed = parseLine({ kind: "line", bytes });
      if (bytes.includes(0)) return parsed.kind === "nul" || fail("NUL not refused");
      if (parsed.kind !== "command") fail(`unexpected ${parsed.kind}`);
      const { verb, arg } = parsed.command;
      if (verb.includes(" ")) fail("space in verb");
      if (verb !== verb.replace(/[A-Z]/g, (c) => c.toLowerCase())) fail("verb not lower-cased");
      // The argument is the tail of the line, untouched; the verb is the line up to the first space.
      const text = latin1(bytes);
      const space = text.indexOf(" ");
      const verbText = space < 0 ? text : text.slice(0, space);
      if (verb !== verbText.replace(/[A-Z]/g, (c) => c.toLowerCase())) fail("verb is not the first word");
      if (!text.endsWith(latin1(arg))) fail("argument is not the line's tail");
      if (arg.length > 0 && arg[0] === 0x20) fail("argument starts with a space");
      return true;
    }), { numRuns, seed });
  },
};

/** The framer's lines must be what splitting the whole stream at LF gives, whatever the chunking. */
export const pop3Framer: FuzzTarget = {
  name: "pop3-framer",
  module: "mod/pop3/line_framer.ts",
  ciRuns: 2000,
  check(numRuns, seed) {
    const stream = fc.array(fc.oneof(protocolBytes(40), protocolBytes(600)), { maxLength: 8 });
    fc.assert(fc.property(stream, fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 10 }), (parts, cuts) => {
      const all = bytesOf(parts.map(latin1).join(""));
      const framer = new LineFramer();
      const got: string[] = [];
      let at = 0;
      let c = 0;
      while (at < all.length) {
        const n = cuts[c++ % cuts.length]!;
        framer.push(all.subarray(at, at + n));
        at += n;
        if (framer.buffered > MAX_COMMAND_OCTETS + 1 && !framer.hasLine) fail(`holds ${framer.buffered} octets without a line`);
        for (let line = framer.next(); line !== undefined; line = framer.next()) got.push(line.kind === "line" ? `L${latin1(line.bytes)}` : "TOO-LONG");
      }
      const text = latin1(all);
      const pieces = text.split("\n");
      pieces.pop(); // the unterminated rest stays buffered
      const want = pieces.map((p) => (p.length + 1 > MAX_COMMAND_OCTETS ? "TOO-LONG" : `L${p.endsWith("\r") ? p.slice(0, -1) : p}`));
      if (JSON.stringify(got) !== JSON.stringify(want)) fail(`lines ${JSON.stringify(got)} != ${JSON.stringify(want)}`);
      return true;
    }), { numRuns, seed });
  },
};

const verbs = ["STAT", "LIST", "UIDL", "RETR", "TOP", "DELE", "RSET", "NOOP", "LAST", "QUIT", "CAPA", "USER", "XYZZY"];
const numberText = fc.oneof(
  fc.integer({ min: -1, max: 9 }).map(String),
  fc.constantFrom("", "01", "1x", "999999999999999999", " 1", "+1"),
);
const commandLine = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(fc.constantFrom(...verbs), fc.array(numberText, { maxLength: 3 }), fc.boolean())
      .map(([verb, args, lower]) => [lower ? verb.toLowerCase() : verb, ...args].join(" ")) },
  { weight: 1, arbitrary: protocolBytes(30).map((b) => latin1(b).replace(/\n/g, "")) },
);

interface Mailbox { messages: MessageInfo[] }
const mailboxArb: fc.Arbitrary<Mailbox> = fc.array(fc.record({
  size: fc.nat({ max: 1e9 }),
  uidl: fc.stringMatching(/^[!-~]{1,70}$/),
}), { maxLength: 9 }).map((messages) => ({ messages }));

function checkListing(reply: string, messages: MessageInfo[], deleted: Set<number>, field: "size" | "uidl"): void {
  const lines = reply.split("\r\n");
  if (lines[0] !== "+OK " || lines.at(-1) !== "" || lines.at(-2) !== ".") fail(`bad listing ${JSON.stringify(reply)}`);
  const body = lines.slice(1, -2);
  const want = messages.flatMap((m, i) => (deleted.has(i) ? [] : [`${i + 1} ${m[field]}`]));
  if (JSON.stringify(body) !== JSON.stringify(want)) fail(`listing ${JSON.stringify(body)} != ${JSON.stringify(want)}`);
}

/** Random command sequences against the TRANSACTION machine, checked against a model. */
export const pop3Session: FuzzTarget = {
  name: "pop3-session",
  module: "mod/pop3/session.ts, transaction.ts",
  ciRuns: 1500,
  check(numRuns, seed) {
    fc.assert(fc.property(mailboxArb, fc.array(commandLine, { maxLength: 40 }), ({ messages }, lines) => {
      const uidlsBefore = messages.map((m) => m.uidl);
      const state = newTransactionState(messages);
      const session = transactionSession(state);
      const deleted = new Set<number>();
      let bad = 0;
      for (const line of lines) {
        if (session.closed) {
          session.push(bytesOf(`${line}\r\n`));
          if (session.next() !== undefined) fail("answered after close");
          continue;
        }
        session.push(bytesOf(`${line}\r\n`));
        const o = session.next() ?? fail("no outcome for a complete line");
        if (session.next() !== undefined) fail("two outcomes for one line");
        const reply = o.reply === undefined ? "" : latin1(o.reply);
        const [verb = "", ...args] = line.split(" ").filter((w, i) => i === 0 || w !== "");
        const v = verb.toLowerCase();
        const n = args.length >= 1 && /^[0-9]{1,15}$/.test(args[0]!) ? Number(args[0]) : undefined;
        const valid = n !== undefined && n >= 1 && n <= messages.length && !deleted.has(n - 1);
        if (o.bad) bad++;
        if (o.action?.kind === "update") {
          if (v !== "quit") fail(`update action from ${JSON.stringify(line)}`);
          const want = [...deleted].sort((a, b) => a - b);
          if (JSON.stringify(o.action.deleted) !== JSON.stringify(want)) fail(`QUIT removes ${o.action.deleted} not ${want}`);
          if (!o.close) fail("QUIT does not close");
        } else if (v === "quit" && args.length === 0) fail("QUIT without update");
        if (o.close && v !== "quit" && bad < MAX_BAD_COMMANDS) fail(`closed by ${JSON.stringify(line)}`);
        if (o.action?.kind === "retrieve") {
          if (!(v === "retr" || v === "top") || !valid) fail(`retrieve from ${JSON.stringify(line)}`);
          if (o.action.index !== n! - 1 || o.action.size !== messages[n! - 1]!.size) fail("retrieve of the wrong message or size");
        }
        if (v === "stat" && reply.startsWith("+OK")) {
          const live = messages.filter((_, i) => !deleted.has(i));
          const want = `+OK ${live.length} ${live.reduce((s, m) => s + m.size, 0)}\r\n`;
          if (reply !== want) fail(`STAT ${JSON.stringify(reply)} != ${JSON.stringify(want)}`);
        }
        if ((v === "list" || v === "uidl") && args.length === 0) checkListing(reply, messages, deleted, v === "list" ? "size" : "uidl");
        if ((v === "list" || v === "uidl") && args.length === 1 && reply.startsWith("+OK")) {
          if (!valid) fail(`${v} answered +OK for ${JSON.stringify(line)}`);
          const m = messages[n! - 1]!;
          if (reply !== `+OK ${n} ${v === "list" ? m.size : m.uidl}\r\n`) fail(`${v} ${JSON.stringify(reply)}`);
        }
        if (v === "dele" && args.length === 1) {
          if (reply.startsWith("+OK") !== valid) fail(`DELE ${JSON.stringify(line)} answered ${JSON.stringify(reply)} (valid ${valid})`);
          if (valid) deleted.add(n! - 1);
        }
        if (v === "rset" && reply.startsWith("+OK")) deleted.clear();
        // The machine's marks are the model's.
        for (let i = 0; i < messages.length; i++) if ((state.deleted[i] === 1) !== deleted.has(i)) fail(`mark of ${i + 1} differs`);
      }
      if (JSON.stringify(messages.map((m) => m.uidl)) !== JSON.stringify(uidlsBefore)) fail("UIDLs changed");
      return true;
    }), { numRuns, seed });
  },
};

/** Undoes dot-stuffing of one multi-line response body (without its terminator). */
function unstuff(text: string): string {
  return text.split("\r\n").map((l) => (l.startsWith(".") ? l.slice(1) : l)).join("\r\n");
}

/** Whole-message encoding: the octets after un-stuffing are the announced CRLF size, chunking changes nothing. */
export const pop3Encoder: FuzzTarget = {
  name: "pop3-encoder",
  module: "mod/pop3/message_encoder.ts",
  ciRuns: 1500,
  check(numRuns, seed) {
    fc.assert(fc.property(protocolBytes(2000), fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 6 }), (message, cuts) => {
      const encode = (chunks: Uint8Array[]): string => {
        const encoder = new MessageEncoder();
        const out = new Uint8Array(MessageEncoder.maxOutput(message.length) + 16);
        let o = 0;
        for (const chunk of chunks) o = encoder.encode(chunk, out, o);
        o = encoder.finish(out, o);
        return latin1(out.subarray(0, o));
      };
      const whole = encode([message]);
      const chunks: Uint8Array[] = [];
      for (let at = 0, c = 0; at < message.length; at += cuts[c++ % cuts.length]!) chunks.push(message.subarray(at, at + cuts[c % cuts.length]!));
      if (encode(chunks) !== whole) fail("chunking changed the output");
      if (!whole.endsWith(".\r\n")) fail("no terminator");
      const body = whole.slice(0, -3);
      // Every line ends in CRLF; no line but the terminator is a lone dot.
      if (body.length > 0 && !body.endsWith("\r\n")) fail("last line not ended");
      if (body.split("\r\n").slice(0, -1).some((l) => l === ".")) fail("a lone dot inside the body");
      const unterminated = message.length > 0 && message[message.length - 1] !== 0x0a ? 2 : 0;
      if (unstuff(body).length !== crlfSizeOf(message) + unterminated) fail(`sent ${unstuff(body).length}, size ${crlfSizeOf(message)}`);
      return true;
    }), { numRuns, seed });
  },
};
