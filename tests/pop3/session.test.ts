import { describe, expect, test } from "bun:test";
import { authenticationFailed, newAuthorizationState } from "../../mod/pop3/authorization.ts";
import { CAPABILITIES, authorizationSession, transactionSession } from "../../mod/pop3/session.ts";
import { newTransactionState, type MessageInfo } from "../../mod/pop3/transaction.ts";
import { MAX_AUTH_FAILURES, MAX_BAD_COMMANDS } from "../../mod/pop3/limits.ts";
import type { Outcome } from "../../mod/pop3/table.ts";

const str = (b: Uint8Array | undefined) => (b === undefined ? undefined : Buffer.from(b).toString("latin1"));

function auth(apopTimestamp?: string) {
  const state = newAuthorizationState(apopTimestamp);
  const session = authorizationSession(state);
  const send = (line: string): Outcome => {
    session.push(Buffer.from(line + "\r\n", "latin1"));
    const o = session.next();
    if (!o) throw new Error("no outcome");
    return o;
  };
  return { state, session, send };
}

const MESSAGES: MessageInfo[] = [
  { size: 100, uidl: "1700000000.M1P1.host" },
  { size: 250, uidl: "1700000001.M2P1.host,S=240" },
  { size: 7, uidl: "1700000002.M3P1.host" },
];

function trans(qmailLast = false) {
  const state = newTransactionState(MESSAGES, { qmailLast });
  const session = transactionSession(state);
  const send = (line: string): Outcome => {
    session.push(Buffer.from(line + "\r\n", "latin1"));
    const o = session.next();
    if (!o) throw new Error("no outcome");
    return o;
  };
  const reply = (line: string) => str(send(line).reply);
  return { state, session, send, reply };
}

describe("AUTHORIZATION (qmail-popup's commands)", () => {
  test("USER then PASS asks to authenticate with the exact octets", () => {
    const { send } = auth();
    expect(str(send("USER joe").reply)).toBe("+OK \r\n");
    const o = send("PASS pass word ");
    expect(o.reply).toBeUndefined();
    expect(o.action?.kind).toBe("authenticate");
    if (o.action?.kind !== "authenticate") return;
    expect(str(o.action.user)).toBe("joe");
    expect(str(o.action.password)).toBe("pass word ");
    expect(o.action.apop).toBe(false);
  });

  test("errors: USER without name, PASS before USER, PASS without password, unknown and TRANSACTION verbs", () => {
    const { send } = auth();
    expect(str(send("USER").reply)).toBe("-ERR syntax error\r\n");
    expect(str(send("PASS x").reply)).toBe("-ERR USER first\r\n");
    send("user joe");
    expect(str(send("PASS").reply)).toBe("-ERR syntax error\r\n");
    for (const verb of ["STAT", "RETR 1", "LIST", "XYZZY", ""]) {
      const o = send(verb);
      expect(str(o.reply)).toBe("-ERR authorization first\r\n");
      expect(o.bad).toBe(true);
      expect(o.action).toBeUndefined();
    }
  });

  test("APOP needs an offered timestamp, and a name and a digest", () => {
    expect(str(auth().send("APOP joe c4c9334bac560ecc979e58001b3e22fb").reply)).toStartWith("-ERR APOP not available");
    const { send } = auth("<1.2@host>");
    expect(str(send("APOP joe").reply)).toBe("-ERR syntax error\r\n");
    expect(str(send("APOP  x").reply)).toBe("-ERR syntax error\r\n");
    const o = send("APOP joe c4c9334bac560ecc979e58001b3e22fb");
    if (o.action?.kind !== "authenticate") throw new Error("no action");
    expect(str(o.action.user)).toBe("joe");
    expect(str(o.action.password)).toBe("c4c9334bac560ecc979e58001b3e22fb");
    expect(o.action.apop).toBe(true);
  });

  test("NOOP, QUIT, and CAPA from the tables", () => {
    const { send, session } = auth();
    expect(str(send("noop").reply)).toBe("+OK \r\n");
    const capa = str(send("CAPA").reply)!;
    expect(capa).toBe(`+OK capability list follows\r\n${CAPABILITIES.join("\r\n")}\r\n.\r\n`);
    for (const cap of ["TOP", "UIDL", "USER", "PIPELINING", "RESP-CODES", "AUTH-RESP-CODE"]) expect(CAPABILITIES).toContain(cap);
    expect(CAPABILITIES).not.toContain("STLS"); // no table serves STLS yet: CAPA must not claim it
    const q = send("QUIT");
    expect(str(q.reply)).toBe("+OK \r\n");
    expect(q.close).toBe(true);
    expect(session.closed).toBe(true);
    session.push(Buffer.from("NOOP\r\n"));
    expect(session.next()).toBeUndefined();
  });

  test("failed logins: [AUTH] for a refusal, [SYS/TEMP] for trouble, closed after MAX_AUTH_FAILURES", () => {
    const { state } = auth();
    expect(str(authenticationFailed(state, "rejected").reply)).toBe("-ERR [AUTH] authorization failed\r\n");
    expect(str(authenticationFailed(state, "temporary").reply)).toStartWith("-ERR [SYS/TEMP] ");
    expect(str(authenticationFailed(state, "crashed").reply)).toStartWith("-ERR [SYS/TEMP] ");
    for (let i = 4; i < MAX_AUTH_FAILURES; i++) expect(authenticationFailed(state, "rejected").close).toBe(false);
    expect(authenticationFailed(state, "rejected").close).toBe(true);
  });

  test(`bad commands are bounded: the ${MAX_BAD_COMMANDS}th closes the session`, () => {
    const { send, session } = auth();
    for (let i = 1; i < MAX_BAD_COMMANDS; i++) {
      expect(send("BOGUS").close).toBeFalsy();
      send("NOOP"); // good commands do not reset the count
    }
    const last = send("BOGUS");
    expect(str(last.reply)).toBe("-ERR authorization first\r\n");
    expect(last.close).toBe(true);
    expect(session.closed).toBe(true);
  });

  test("too long lines and NUL octets get -ERR and the session goes on", () => {
    const { send } = auth();
    expect(str(send("USER " + "x".repeat(300)).reply)).toBe("-ERR command line too long\r\n");
    expect(str(send("USER a\0b").reply)).toBe("-ERR NUL octet in command line\r\n");
    expect(str(send("USER joe").reply)).toBe("+OK \r\n");
  });
});

describe("TRANSACTION (qmail-pop3d's commands)", () => {
  test("STAT, LIST, UIDL", () => {
    const { reply } = trans();
    expect(reply("STAT")).toBe("+OK 3 357\r\n");
    expect(reply("LIST")).toBe("+OK \r\n1 100\r\n2 250\r\n3 7\r\n.\r\n");
    expect(reply("LIST 2")).toBe("+OK 2 250\r\n");
    expect(reply("UIDL")).toBe(`+OK \r\n${MESSAGES.map((m, i) => `${i + 1} ${m.uidl}\r\n`).join("")}.\r\n`);
    expect(reply("uidl 3")).toBe("+OK 3 1700000002.M3P1.host\r\n");
    expect(reply("LIST ")).toBe(reply("LIST")); // a trailing space is no argument
  });

  test("message number errors, in qmail-pop3d's words", () => {
    const { reply, send } = trans();
    expect(reply("LIST 0")).toBe("-ERR messages are counted from 1\r\n");
    expect(reply("LIST 4")).toBe("-ERR not that many messages\r\n");
    expect(reply("LIST x")).toBe("-ERR syntax error\r\n");
    expect(reply("LIST 1 2")).toBe("-ERR syntax error\r\n");
    expect(reply("RETR")).toBe("-ERR syntax error\r\n");
    expect(reply("RETR 99999999999999999999")).toBe("-ERR syntax error\r\n");
    expect(reply("TOP 1")).toBe("-ERR syntax error\r\n");
    expect(reply("TOP 1 x")).toBe("-ERR syntax error\r\n");
    expect(reply("DELE")).toBe("-ERR syntax error\r\n");
    expect(reply("APOP a b")).toBe("-ERR unimplemented\r\n");
    expect(send("USER joe").bad).toBe(true);
  });

  test("RETR and TOP ask the driver to send the message with its listed size", () => {
    const { send } = trans();
    expect(send("RETR 2").action).toEqual({ kind: "retrieve", index: 1, bodyLines: undefined, size: 250 });
    expect(send("TOP 3 0").action).toEqual({ kind: "retrieve", index: 2, bodyLines: 0, size: 7 });
    expect(send("top 1 10").action).toEqual({ kind: "retrieve", index: 0, bodyLines: 10, size: 100 });
  });

  test("a message marked deleted is refused by every command and left out of STAT, LIST and UIDL", () => {
    const { reply, send } = trans();
    expect(reply("DELE 2")).toStartWith("+OK");
    for (const cmd of ["LIST 2", "UIDL 2", "RETR 2", "TOP 2 0", "DELE 2"]) {
      const o = send(cmd);
      expect(str(o.reply)).toBe("-ERR already deleted\r\n");
      expect(o.action).toBeUndefined();
    }
    expect(reply("STAT")).toBe("+OK 2 107\r\n");
    expect(reply("LIST")).toBe("+OK \r\n1 100\r\n3 7\r\n.\r\n");
    expect(reply("UIDL")).not.toContain("M2P1");
    expect(reply("RSET")).toBe("+OK \r\n");
    expect(reply("STAT")).toBe("+OK 3 357\r\n");
    expect(reply("RETR 2")).toBeUndefined();
  });

  test("deletions happen only at QUIT: no command but QUIT yields the update", () => {
    const { send } = trans();
    const commands = ["DELE 1", "DELE 3", "STAT", "LIST", "UIDL", "RETR 2", "TOP 2 1", "NOOP", "LAST", "CAPA", "RSET", "DELE 3", "BOGUS"];
    for (const c of commands) expect(send(c).action?.kind).not.toBe("update");
    const quit = send("QUIT");
    expect(quit.action).toEqual({ kind: "update", deleted: [2] });
    expect(quit.close).toBe(true);
  });

  test("too many bad commands close the session without an update (nothing deleted)", () => {
    const { send, session } = trans();
    send("DELE 1");
    let last: Outcome = {};
    for (let i = 0; i < MAX_BAD_COMMANDS; i++) last = send("XYZZY");
    expect(last.close).toBe(true);
    expect(last.action).toBeUndefined();
    expect(session.closed).toBe(true);
  });

  test("LAST: RETR and DELE raise it (RFC 1460); with qmailLast only DELE (qmail-pop3d); RSET zeroes it", () => {
    const rfc = trans();
    expect(rfc.reply("LAST")).toBe("+OK 0\r\n");
    rfc.send("RETR 2");
    expect(rfc.reply("LAST")).toBe("+OK 2\r\n");
    rfc.send("DELE 1");
    expect(rfc.reply("LAST")).toBe("+OK 2\r\n");
    rfc.send("DELE 3");
    expect(rfc.reply("LAST")).toBe("+OK 3\r\n");
    rfc.send("RSET");
    expect(rfc.reply("LAST")).toBe("+OK 0\r\n");
    const q = trans(true);
    q.send("RETR 2");
    expect(q.reply("LAST")).toBe("+OK 0\r\n");
    q.send("DELE 1");
    expect(q.reply("LAST")).toBe("+OK 1\r\n");
  });

  test("an empty mailbox", () => {
    const state = newTransactionState([]);
    const s = transactionSession(state);
    s.push(Buffer.from("STAT\r\nLIST\r\nRETR 1\r\n"));
    expect([s.next(), s.next(), s.next()].map((o) => str(o?.reply))).toEqual([
      "+OK 0 0\r\n", "+OK \r\n.\r\n", "-ERR not that many messages\r\n",
    ]);
  });
});
