/**
 * The differential campaign's inputs, from a seed: a mailbox (messages that stress the
 * encoder: empty, no final newline, lone CR and LF, dot lines, long lines, 8-bit and NUL
 * octets, big ones) and a conversation of valid and hostile POP3 input in bursts. The
 * account's name, password and APOP digest are placeholders filled in per host
 * (fill), so one conversation runs unchanged against every host.
 */
import { createHash } from "node:crypto";
import { prng } from "../../../tests/prng.ts";

export interface Conversation {
  /** Sent one after the other; between two bursts the client waits until the server is quiet. */
  bursts: string[];
  /** How the client ends: QUIT is already in the last burst, or it half-closes, or it drops the connection. */
  ending: "wait" | "half-close" | "half-close-now" | "drop";
  /** Set: the conversation starts with STLS, this plaintext pipelined after it, and goes on inside TLS. */
  stls?: string;
}

export interface Round {
  seed: number;
  messages: Buffer[];
  /** Where each message lies: new/, or cur/ with this info (":2,S" seen, ":2,T" trashed, "" none). */
  places: string[];
  conversation: Conversation;
}

/** Placeholders in a burst (latin1 text). */
const LOGIN = "\u0001L\u0001";
const PASS = "\u0001P\u0001";
const APOP = "\u0001A\u0001";
const APOP_UPPER = "\u0001U\u0001";
const AUTHZ_PLAIN = "\u0001Z\u0001";
const UPPER_LOGIN = "\u0001C\u0001";
const PLAIN = "\u0001B\u0001";
const WRONG_PLAIN = "\u0001W\u0001";

export interface Credentials {
  login: string;
  password: string;
  apopSecret: string;
  /** The greeting's timestamp, `<...>` (empty without APOP). */
  timestamp: string;
}

/** The burst's bytes for one host's account. */
export function fill(burst: string, c: Credentials): Buffer {
  const b64 = (s: string) => Buffer.from(s, "latin1").toString("base64");
  const text = burst
    .replaceAll(LOGIN, c.login)
    .replaceAll(PASS, c.password)
    .replaceAll(APOP_UPPER, createHash("md5").update(c.timestamp + c.apopSecret).digest("hex").toUpperCase())
    .replaceAll(AUTHZ_PLAIN, b64(`${c.login}\0${c.login}\0${c.password}`))
    .replaceAll(UPPER_LOGIN, c.login.toUpperCase())
    .replaceAll(APOP, createHash("md5").update(c.timestamp + c.apopSecret).digest("hex"))
    .replaceAll(PLAIN, b64(`\0${c.login}\0${c.password}`))
    .replaceAll(WRONG_PLAIN, b64(`\0${c.login}\0nope`));
  return Buffer.from(text, "latin1");
}

/** A conversation in a readable form (placeholders named), for reports. */
export function show(c: Conversation): string {
  const named = (s: string) => s.replaceAll(APOP_UPPER, "{APOP}").replaceAll(AUTHZ_PLAIN, "{authzplain}").replaceAll(UPPER_LOGIN, "{LOGIN}").replaceAll(LOGIN, "{login}").replaceAll(PASS, "{pass}").replaceAll(APOP, "{apop}").replaceAll(PLAIN, "{plain}").replaceAll(WRONG_PLAIN, "{wrongplain}");
  return JSON.stringify({ stls: c.stls === undefined ? undefined : named(c.stls), bursts: c.bursts.map((b) => named(b.length > 400 ? `${b.slice(0, 200)}...(${b.length})...${b.slice(-100)}` : b)), ending: c.ending });
}

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const int = (r: Rand, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));

function message(r: Rand): Buffer {
  const kind = int(r, 0, 11);
  const head = `Subject: m${kind}\n`;
  switch (kind) {
    case 0: return Buffer.alloc(0);
    case 1: return Buffer.from(`${head}\nno final newline`, "latin1");
    case 2: return Buffer.from(`${head}\nlone\rCR and\r\nCRLF\nand LF\r\r\n\n`, "latin1");
    case 3: return Buffer.from(`${head}\n.\n..\n.dot\r\n. \n...\n.\r\n`, "latin1");
    case 4: return Buffer.from(`${head}X-Long: ${"h".repeat(int(r, 900, 9000))}\n\n${"b".repeat(int(r, 100, 20000))}\n`, "latin1");
    case 5: return Buffer.from(`${head}\ncaf\xe9 \xff\xfe \x00 nul\x00\nend\x00`, "latin1");
    case 6: return Buffer.from(`${head}\n${`${"x".repeat(int(r, 10, 120))}\n`.repeat(int(r, 2000, 12000))}`, "latin1");
    case 7: return Buffer.from("\n\n\n", "latin1");
    case 8: return Buffer.from(`${head}\n${Array.from({ length: int(r, 1, 40) }, (_, i) => `line ${i}`).join("\n")}\n`, "latin1");
    case 9: return Buffer.from("no header at all\r", "latin1");
    case 10: return Buffer.from(Array.from({ length: int(r, 1, 3000) }, () => int(r, 0, 255)));
    default: return Buffer.from(`${head}\n\nbody\n`, "latin1");
  }
}

const VERBS = ["USER", "PASS", "APOP", "QUIT", "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP", "UIDL", "CAPA", "STLS", "AUTH", "LAST", "XYZZY", "UTF8", "LANG"];

function casing(r: Rand, verb: string): string {
  const c = r();
  if (c < 0.7) return verb;
  if (c < 0.85) return verb.toLowerCase();
  return [...verb].map((ch) => (r() < 0.5 ? ch.toLowerCase() : ch)).join("");
}

function number(r: Rand, n: number): string {
  return pick(r, [
    String(int(r, 1, Math.max(1, n))), String(int(r, 1, Math.max(1, n))), String(int(r, 1, Math.max(1, n))),
    "0", "-1", String(n + 1), "99999999999999999999", "999999999999999", "1000000000000000", "x", "1x", "+1", "01", "0x1", " 1", "1 ", "", "1.5", "\t1",
  ]);
}

function argsFor(r: Rand, verb: string, n: number): string {
  switch (verb) {
    case "USER": return pick(r, [` ${LOGIN}`, ` ${LOGIN}`, ` ${UPPER_LOGIN}`, " caf\xe9", ` ${LOGIN}@example.org`, "", " ", ` ${LOGIN} extra`, ` nosuchuser`, `  ${LOGIN}`, `\t${LOGIN}`, ` ${"u".repeat(int(r, 240, 260))}`]);
    case "PASS": return pick(r, [` ${PASS}`, ` ${PASS}`, " wrong", "", ` ${PASS} `, ` ${PASS}x`]);
    case "APOP": return pick(r, [` ${LOGIN} ${APOP}`, ` ${LOGIN} ${APOP}`, ` ${LOGIN} ${APOP_UPPER}`, ` ${LOGIN}  ${APOP}`, ` ${LOGIN} 0123456789abcdef0123456789abcdef`, ` ${LOGIN}`, "", ` ${LOGIN} ${APOP} x`]);
    case "TOP": return ` ${number(r, n)}${r() < 0.8 ? ` ${pick(r, ["0", "1", "3", "-1", "x", "99999999999999999999", String(int(r, 0, 50))])}` : ""}`;
    case "LIST": case "UIDL": return r() < 0.4 ? "" : ` ${number(r, n)}`;
    case "RETR": case "DELE": return r() < 0.1 ? "" : ` ${number(r, n)}${r() < 0.1 ? " 2" : ""}`;
    case "AUTH": return pick(r, ["", " PLAIN", ` PLAIN ${AUTHZ_PLAIN}`, ` plain ${PLAIN}`, " PLAIN AGJvYgBwdw==", " PLAIN AAAA", " PLAIN " + "=".repeat(4), ` PLAIN ${PLAIN}`, ` PLAIN ${PLAIN}`, ` PLAIN ${WRONG_PLAIN}`, " plain =", " LOGIN", " NOPE", " PLAIN *", " SCRAM-SHA-256"]);
    case "LANG": return pick(r, ["", " en", " *", " xx"]);
    default: return r() < 0.85 ? "" : pick(r, [" 1", " x", "  ", "\t"]);
  }
}

function ending(r: Rand): string {
  const c = r();
  if (c < 0.88) return "\r\n";
  if (c < 0.97) return "\n";
  return "\r";
}

function command(r: Rand, n: number): string {
  const c = r();
  if (c < 0.03) return ending(r); // an empty line
  if (c < 0.05) return `${"N".repeat(int(r, 250, 258))}\r\n`; // about the 255-octet limit
  if (c < 0.06) return `NOOP ${"x".repeat(int(r, 240, 256))}\r\n`;
  if (c < 0.07) return `NOOP ${"y".repeat(int(r, 1000, 9000))}\r\n`;
  if (c < 0.09) return `${pick(r, ["STAT", "LIST 1", "NOOP", "RETR 1"])}\0${pick(r, ["", "x"])}\r\n`;
  if (c < 0.1) return `${pick(r, [" ", "\t"])}STAT\r\n`;
  if (c < 0.11) return `AUTH PLAIN ${"QUFB".repeat(int(r, 2040, 2050))}\r\n`; // about the 8 KiB SASL line
  if (c < 0.12) return pick(r, ["AUTH PLAIN\r\n*\r\n", "AUTH PLAIN\r\n=\r\n", `AUTH PLAIN\r\n${WRONG_PLAIN}\r\n`, "AUTH PLAIN\r\n\r\n"]);
  if (c < 0.13) return `${pick(r, ["USER", "PASS", "APOP"])} ${pick(r, [LOGIN, PASS, "x"])}\0${pick(r, ["", "y"])}\r\n`;
  const verb = pick(r, VERBS);
  const sep = r() < 0.05 ? pick(r, ["  ", "\t"]) : null;
  let args = argsFor(r, verb, n);
  if (sep !== null && args.startsWith(" ")) args = sep + args.slice(1);
  return `${casing(r, verb)}${args}${ending(r)}`;
}

function loginBurst(r: Rand): string {
  const c = r();
  if (c < 0.45) return `USER ${LOGIN}\r\nPASS ${PASS}\r\n`;
  if (c < 0.6) return `USER ${LOGIN}\r\nPASS wrong\r\nUSER ${LOGIN}\r\nPASS ${PASS}\r\n`;
  if (c < 0.72) return `APOP ${LOGIN} ${APOP}\r\n`;
  if (c < 0.84) return `AUTH PLAIN ${PLAIN}\r\n`;
  if (c < 0.9) return `AUTH PLAIN\r\n${PLAIN}\r\n`;
  if (c < 0.95) return `user ${LOGIN}\npass ${PASS}\n`;
  return `USER ${LOGIN}\r\nPASS ${PASS}\r\n`;
}

/** The round for `seed`: the same mailbox and conversation on every run. */
export function makeRound(seed: number): Round {
  const r = prng(seed * 2654435761);
  const messages = Array.from({ length: r() < 0.06 ? 0 : int(r, 1, 6) }, () => message(r));
  const n = messages.length;
  const places = messages.map(() => pick(r, ["new", "new", "new", "cur:2,", "cur:2,S", "cur:2,T", "cur:2,RS", "cur"]));
  const bursts: string[] = [];
  // Before login: a few commands in the wrong state, then (usually) a login.
  const pre = int(r, 0, 4);
  let burst = "";
  for (let i = 0; i < pre; i++) burst += command(r, n);
  if (r() < 0.92) burst += loginBurst(r);
  bursts.push(burst);
  for (let b = int(r, 1, 5); b > 0; b--) {
    let text = "";
    for (let i = int(r, 1, r() < 0.2 ? 40 : 8); i > 0; i--) text += command(r, n);
    bursts.push(text);
  }
  // Pipelined with the login, or a line cut in two between bursts.
  if (bursts.length > 1 && r() < 0.25) bursts.splice(0, 2, bursts[0]! + bursts[1]!);
  if (bursts.length > 1 && r() < 0.1) {
    const i = int(r, 0, bursts.length - 1);
    let cut = int(r, 1, Math.max(1, bursts[i]!.length - 1));
    while ((bursts[i]!.slice(0, cut).match(/\u0001/g) ?? []).length % 2 === 1) cut++; // never inside a placeholder
    bursts.splice(i, 1, bursts[i]!.slice(0, cut), bursts[i]!.slice(cut));
  }
  const c = r();
  const end: Conversation["ending"] = c < 0.55 ? "wait" : c < 0.72 ? "half-close" : c < 0.87 ? "half-close-now" : "drop";
  if (end === "wait" || r() < 0.3) bursts.push(r() < 0.9 ? "QUIT\r\n" : "quit\r\n");
  else if (end !== "drop" && r() < 0.3) bursts.push(pick(r, ["QUIT", "STAT", "DELE 1", "RETR 1", "QUIT\r", "NOOP\r\nQUIT"])); // a last line with no end, then EOF
  const stls = r() < 0.2 ? pick(r, ["", "", "", `USER ${LOGIN}\r\n`, `USER ${LOGIN}\r\nPASS ${PASS}\r\nDELE 1\r\nQUIT\r\n`, "CAPA\r\n", "NOOP"]) : undefined;
  return { seed, messages, places, conversation: { bursts, ending: end, ...(stls === undefined ? {} : { stls }) } };
}
