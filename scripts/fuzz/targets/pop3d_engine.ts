/**
 * pop3d's engine end to end (mod/session/transaction_loop.ts over an in-memory channel and
 * mailbox): random messages and random command sequences. Every RETR sends, once
 * dot-stuffing is undone, exactly the message with CRLF line ends, and its "+OK N octets"
 * is the size LIST announced; the mailbox's remove() is called only by QUIT, once, with
 * exactly the messages marked and not reset.
 */
import fc from "fast-check";
import { servePop3d } from "../../../mod/session/transaction_loop.ts";
import { crlfSizeOf } from "../../../mod/maildir/crlf.ts";
import { MemoryChannel, MemoryMailbox } from "../../../tests/pop3/memory.ts";
import { bytesOf, latin1, type FuzzTarget } from "../target.ts";

function fail(message: string): never {
  throw new Error(message);
}

/** The commands as a client sends them, cut into `chunk`-octet pieces (each read stops at a piece's end). */
function pieces(text: string, chunk: number): Uint8Array[] {
  const bytes = bytesOf(text);
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += chunk) out.push(bytes.subarray(at, at + chunk));
  return out;
}

/** The message as RFC 1939 sends it, before dot-stuffing: every line ends in CRLF. */
function asSent(body: Uint8Array): string {
  let text = latin1(body).replace(/\r?\n/g, "\r\n");
  if (body.length > 0 && body[body.length - 1] !== 0x0a) text += "\r\n";
  return text;
}

const body = fc.array(fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x0a, 0x0d, 0x2e, 0x2e)), { maxLength: 400 }).map((a) => Uint8Array.from(a));
const command = fc.oneof(
  fc.tuple(fc.constantFrom("RETR", "DELE", "LIST", "UIDL"), fc.integer({ min: 1, max: 7 })).map(([v, n]) => `${v} ${n}`),
  fc.tuple(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 0, max: 3 })).map(([n, k]) => `TOP ${n} ${k}`),
  fc.constantFrom("STAT", "LIST", "UIDL", "RSET", "NOOP", "QUIT"),
);

export const pop3dEngine: FuzzTarget = {
  name: "pop3d-engine",
  module: "mod/session/transaction_loop.ts (with session, encoder)",
  ciRuns: 600,
  check(numRuns, seed) {
    fc.assert(fc.property(fc.array(body, { maxLength: 6 }), fc.array(command, { maxLength: 25 }), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 97 }),
      (bodies, commands, chunk, readSize) => {
        const mailbox = new MemoryMailbox(bodies, crlfSizeOf, readSize);
        const channel = new MemoryChannel(pieces(commands.map((c) => `${c}\r\n`).join(""), chunk));
        servePop3d(channel, mailbox);
        let out = channel.output;
        const take = (n: number) => { const t = out.slice(0, n); out = out.slice(n); return t; };
        const line = () => { const end = out.indexOf("\r\n"); if (end < 0) fail(`no line in ${JSON.stringify(out.slice(0, 80))}`); return take(end + 2); };
        if (line() !== "+OK \r\n") fail("greeting");
        const marked = new Set<number>();
        let quitAt = -1;
        for (const [i, c] of commands.entries()) {
          const [verb, arg] = c.split(" ");
          const n = arg === undefined ? undefined : Number(arg);
          const status = line();
          const multi = status.startsWith("+OK") && (verb === "RETR" || verb === "TOP" || ((verb === "LIST" || verb === "UIDL") && n === undefined));
          let content = "";
          if (multi) {
            const end = ("\r\n" + out).indexOf("\r\n.\r\n");
            content = take(end);
            take(3);
          }
          const valid = n !== undefined && n >= 1 && n <= bodies.length && !marked.has(n - 1);
          if ((verb === "RETR" || verb === "TOP" || verb === "DELE") && status.startsWith("+OK") !== valid) fail(`${c}: ${status}`);
          if (verb === "RETR" && valid) {
            const size = mailbox.messages[n! - 1]!.size;
            if (status !== `+OK ${size} octets\r\n`) fail(`${c}: ${status}`);
            const unstuffed = content.split("\r\n").map((l) => (l.startsWith(".") ? l.slice(1) : l)).join("\r\n");
            if (unstuffed !== asSent(bodies[n! - 1]!)) fail(`${c}: body differs`);
            if (asSent(bodies[n! - 1]!).length - (bodies[n! - 1]!.length > 0 && bodies[n! - 1]!.at(-1) !== 0x0a ? 2 : 0) !== size) fail("size is not the octets sent");
          }
          if (verb === "DELE" && valid) marked.add(n! - 1);
          if (verb === "RSET") marked.clear();
          if (verb === "QUIT") {
            quitAt = i;
            if (status !== "+OK \r\n") fail(`QUIT: ${status}`);
            break;
          }
        }
        if (out !== "") fail(`answers after the session: ${JSON.stringify(out.slice(0, 80))}`);
        if (quitAt < 0 && mailbox.removed.length > 0) fail("removed without QUIT");
        if (quitAt >= 0 && JSON.stringify(mailbox.removed) !== JSON.stringify([[...marked].sort((a, b) => a - b)])) fail(`removed ${JSON.stringify(mailbox.removed)}, marked ${[...marked]}`);
        return true;
      }), { numRuns, seed });
  },
};
