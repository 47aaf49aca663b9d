/**
 * RFC 1939 and its extensions (CAPA, UIDL, TOP, RESP-CODES, AUTH PLAIN, APOP) under every
 * mode x kind of user: each combination answers a pipelined session byte for byte as the
 * classic chain does for a virtual user, and mail is removed exactly as the commands say.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { connectConversation } from "../pop3/conversation.ts";
import { talk, type Running } from "../standalone/harness.ts";
import { AccountPool, gate, MATRIX, PASSWORD, REFERENCE, blankTimestamp, reference, type Account } from "./modes.ts";

const pool = new AccountPool("matrix-cmd");
afterAll(() => pool.close());
const limited = gate(8, pool);

const MESSAGES = [
  "From: a@example.org\nSubject: one\n\nhello\n.dot line\n..two dots\n.\n",
  Buffer.from("Subject: 8-bit\r\n\r\ncaf\xe9 \xff\x00 binary\r\nno final newline", "latin1"),
  "Subject: three\nX-Long: " + "h".repeat(300) + "\n\nl1\nl2\nl3\nl4\n",
];
const b64 = (s: string) => Buffer.from(s, "latin1").toString("base64");
const count = (acct: Account) => ["new", "cur"].reduce((n, sub) => n + readdirSync(join(acct.maildir, sub)).length, 0);
const answersOnly = (text: string) => text.split("\r\n").filter((l) => /^(\+OK|-ERR|\+ )/.test(l));

/** A case: the transcript it produces on a server for an account, and what must hold of it in every combination. */
interface Case {
  name: string;
  messages: (string | Uint8Array)[];
  /** Compare with the classic chain serving the same kind of user (the answer differs by kind: SASL SCRAM needs a virtual user's keys). */
  referenceByKind?: boolean;
  /** pop3d's arguments, when not just Maildir (the case then has a server of its own per combination). */
  pop3dArgs?: string[];
  run(server: Running, acct: Account): Promise<string>;
  check(text: string, acct: Account): void;
}

const CASES: Case[] = [
  {
    name: "the transaction state: STAT LIST UIDL TOP RETR DELE RSET NOOP LAST, pipelined; DELE + QUIT removes",
    messages: MESSAGES,
    run: async (s, a) => blankTimestamp((await talk(s.port, [
      `USER ${a.login}`, `PASS ${PASSWORD}`, "STAT", "LIST", "LIST 2", "LIST 9", "LIST x", "UIDL", "UIDL 3", "UIDL 0",
      "TOP 3 2", "TOP 1 0", "TOP 1 99", "TOP 4 1", "RETR 1", "RETR 2", "RETR 3", "DELE 1", "DELE 1", "RETR 1", "LIST 1", "STAT",
      "RSET", "STAT", "LAST", "DELE 2", "NOOP", "stat", "QUIT", "",
    ].join("\r\n"))).toString("latin1")),
    check(text, acct) {
      const lines = text.split("\r\n");
      expect(lines[0]).toMatch(/^\+OK <>/);
      expect(text).toContain("+OK 3 ");
      expect(text).toContain("\r\n1 ");
      expect(text).toMatch(/\+OK 2 \d+\r\n/); // LIST 2
      expect(text).toContain("\r\n..dot line\r\n...two dots\r\n..\r\n.\r\n");
      expect(text).toContain("caf\xe9 \xff\x00 binary\r\nno final newline\r\n.\r\n");
      expect(text).toContain("\r\nl1\r\nl2\r\n.\r\n"); // TOP 3 2
      expect(text).not.toContain("l3\r\n.\r\n+OK\r\n"); // TOP stops after 2 lines
      expect(text).toContain("+OK message 1 deleted\r\n");
      expect(text.match(/^-ERR/gm)?.length).toBeGreaterThanOrEqual(7); // LIST 9, LIST x, UIDL 0, TOP 4 1, DELE 1 again, RETR 1, LIST 1
      expect(lines.at(-2)).toMatch(/^\+OK/); // QUIT
      expect(count(acct)).toBe(2); // RSET undid DELE 1; DELE 2 then QUIT removed message 2
    },
  },
  {
    name: "the authorization state refuses what it must: commands before login, PASS without USER, unknown and empty commands",
    messages: MESSAGES,
    run: async (s, a) => blankTimestamp((await talk(s.port, ["STAT", "LIST", "RETR 1", "PASS x", "FOO", "", "USER", `USER ${a.login}`, "QUIT", ""].join("\r\n"))).toString("latin1")),
    check(text, acct) {
      const answers = answersOnly(text);
      expect(answers[0]).toMatch(/^\+OK <>/);
      expect(answers.at(-1)).toMatch(/^\+OK/); // QUIT
      expect(answers.filter((l) => l.startsWith("-ERR")).length).toBeGreaterThanOrEqual(5);
      expect(count(acct)).toBe(3);
    },
  },
  {
    name: "CAPA before and after login: TOP UIDL USER RESP-CODES PIPELINING SASL PLAIN",
    messages: [],
    referenceByKind: true,
    run: async (s, a) => blankTimestamp((await talk(s.port, ["CAPA", `USER ${a.login}`, `PASS ${PASSWORD}`, "CAPA", "QUIT", ""].join("\r\n"))).toString("latin1")),
    check(text) {
      const capas = text.split(/\r\n\.\r\n/);
      expect(capas.length).toBe(3);
      for (const capa of capas.slice(0, 2)) {
        for (const word of ["TOP", "UIDL", "RESP-CODES", "PIPELINING", "LANG"]) expect(capa).toContain(`\r\n${word}\r\n`);
      }
      expect(capas[0]).toContain("\r\nUSER\r\n");
      expect(capas[0]).toMatch(/\r\nSASL PLAIN( [^\r]*)?\r\n/);
      expect(capas[0]).not.toContain("STLS"); // no certificate
      // RFC 2449 section 5: USER and SASL are announced in both states, with no differences.
      const loginLines = (capa: string) => capa.split("\r\n").filter((l) => l === "USER" || l.startsWith("SASL "));
      expect(loginLines(capas[1]!)).toEqual(loginLines(capas[0]!));
    },
  },
  {
    name: "AUTH PLAIN: initial response, continuation, a wrong password ([AUTH]), an unknown mechanism, a cancelled exchange",
    messages: MESSAGES,
    async run(s, a) {
      const out: string[] = [];
      const ok = b64(`\0${a.login}\0${PASSWORD}`);
      out.push((await talk(s.port, `AUTH PLAIN ${ok}\r\nSTAT\r\nQUIT\r\n`)).toString("latin1"));
      out.push((await talk(s.port, `AUTH PLAIN\r\n${ok}\r\nSTAT\r\nQUIT\r\n`)).toString("latin1"));
      out.push((await talk(s.port, `AUTH PLAIN ${b64(`\0${a.login}\0wrong`)}\r\nQUIT\r\n`)).toString("latin1"));
      out.push((await talk(s.port, `AUTH CRAM-MD5\r\nAUTH PLAIN\r\n*\r\nQUIT\r\n`)).toString("latin1"));
      return out.map(blankTimestamp).join("\n---\n");
    },
    check(text) {
      const [initial, continued, wrong, other] = text.split("\n---\n");
      expect(initial).toMatch(/^\+OK <>[^\r]*\r\n\+OK[^\r]*\r\n\+OK 3 \d+\r\n\+OK/);
      expect(continued).toMatch(/^\+OK <>[^\r]*\r\n\+ \r\n\+OK[^\r]*\r\n\+OK 3 \d+\r\n\+OK/);
      expect(wrong).toContain("-ERR [AUTH] ");
      expect(answersOnly(other!).slice(1, 3).every((l) => l.startsWith("-ERR") || l === "+ ")).toBe(true);
    },
  },
  {
    name: "APOP: the digest of the greeting's timestamp logs in; a wrong digest is -ERR [AUTH]",
    messages: MESSAGES,
    async run(s, a) {
      const out: string[] = [];
      for (const secret of [a.apopSecret, "not-the-secret"]) {
        const { talk: c, socket } = await connectConversation(s.port);
        try {
          const greeting = await c.waitFor(/^\+OK [^\r]*<[^>]+>\r\n/);
          const stamp = /<[^>]+>/.exec(greeting)![0];
          c.send(`APOP ${a.login} ${createHash("md5").update(stamp + secret).digest("hex")}\r\nSTAT\r\nQUIT\r\n`);
          await c.waitEnd(15_000);
          out.push(blankTimestamp(c.text));
        } finally {
          socket.destroy();
        }
      }
      return out.join("\n---\n");
    },
    check(text) {
      const [good, bad] = text.split("\n---\n");
      expect(good).toMatch(/^\+OK <>[^\r]*\r\n\+OK[^\r]*\r\n\+OK 3 \d+\r\n\+OK/);
      expect(answersOnly(bad!)[1]).toBe("-ERR [AUTH] authorization failed");
    },
  },
  {
    name: "RESP-CODES: a wrong password and an unknown user get the same -ERR [AUTH]; the session goes on",
    messages: [],
    run: async (s, a) => blankTimestamp((await talk(s.port, [`USER ${a.login}`, "PASS wrong", "USER nosuchuser", `PASS ${PASSWORD}`, `USER ${a.login}`, `PASS ${PASSWORD}`, "STAT", "QUIT", ""].join("\r\n"))).toString("latin1")),
    check(text) {
      expect(answersOnly(text).slice(1)).toEqual(["+OK ", "-ERR [AUTH] authorization failed", "+OK ", "-ERR [AUTH] authorization failed", "+OK ", "+OK ", "+OK 0 0", "+OK "]);
    },
  },
  {
    name: "LANG (RFC 6856): announced in CAPA, lists its languages and selects one by lookup, before and after login",
    messages: MESSAGES,
    run: async (s, a) => blankTimestamp((await talk(s.port, ["LANG", "LANG en-GB", "LANG de", `USER ${a.login}`, `PASS ${PASSWORD}`, "LANG *", "LANG en_GB", "LANG", "STAT", "QUIT", ""].join("\r\n"))).toString("latin1")),
    check(text) {
      const listing = "+OK Language listing follows:\r\ni-default Default language\r\nen English\r\n.\r\n";
      expect(text).toBe(`+OK <>\r\n${listing}+OK en Language changed\r\n-ERR unsupported language\r\n+OK \r\n+OK \r\n` +
        `+OK i-default Language changed\r\n-ERR syntax error\r\n${listing}+OK 3 ${text.match(/\+OK 3 (\d+)/)?.[1]}\r\n+OK \r\n`);
    },
  },
  {
    name: "--compat=qmail: qmail-pop3d's file sizes, order and LAST",
    messages: MESSAGES,
    pop3dArgs: ["--compat=qmail", "Maildir"],
    run: async (s, a) => blankTimestamp((await talk(s.port, [`USER ${a.login}`, `PASS ${PASSWORD}`, "STAT", "LIST", "LAST", "RETR 1", "LAST", "QUIT", ""].join("\r\n"))).toString("latin1")),
    check(text) {
      const onDisk = MESSAGES.reduce((n, m) => n + Buffer.from(m as string, "latin1").length, 0);
      expect(text).toContain(`\r\n+OK 3 ${onDisk}\r\n`); // the files' octets, not CRLF's
      expect(text).toContain("\r\n+OK 0\r\n+OK \r\n");
      expect(text).toContain("\r\n1 337\r\n2 50\r\n3 63\r\n.\r\n"); // qmail-pop3d's order (by mtime), not the names' order
    },
  },
];

describe.each(MATRIX)("$name", (combo) => {
  for (const c of CASES) {
    test.concurrent(c.name, () => limited(async () => {
      const opts = { popupFlags: ["--apop"], pop3dArgs: c.pop3dArgs };
      const server = await pool.shared(combo, c.pop3dArgs?.join(" ") ?? "plain", opts);
      const acct = pool.account(combo.kind, c.messages);
      const text = await c.run(server, acct);
      c.check(text, acct);
      const ref = c.referenceByKind ? MATRIX.find((m) => m.mode === REFERENCE.mode && m.kind === combo.kind)! : REFERENCE;
      const want = await reference(pool, c.name, c.run, c.messages, ref, opts);
      expect(text).toBe(want);
    }));
  }
});
