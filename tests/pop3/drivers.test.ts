import { describe, expect, test } from "bun:test";
import { servePop3d } from "../../mod/session/transaction_loop.ts";
import { servePopup, checkpasswordData, type ChainResult } from "../../mod/session/login_loop.ts";
import { ClientTimeout } from "../../mod/pop3/fd_channel.ts";
import { MemoryChannel, MemoryMailbox } from "./memory.ts";

/** Splits a multi-line response body back into the message (undo dot-stuffing, keep CRLF). */
function unstuff(body: string): string {
  return body.split("\r\n").map((l) => (l.startsWith(".") ? l.slice(1) : l)).join("\r\n");
}

/** The bodies of every "+OK N octets" multi-line answer in `output`. */
function retrieved(output: string): { size: number; body: string }[] {
  const out: { size: number; body: string }[] = [];
  const re = /\+OK (\d+) octets\r\n/g;
  for (let m = re.exec(output); m; m = re.exec(output)) {
    const end = output.indexOf("\r\n.\r\n", re.lastIndex - 2);
    out.push({ size: Number(m[1]), body: output.slice(re.lastIndex, end + 2) });
    re.lastIndex = end + 5;
  }
  return out;
}

const MESSAGES = [
  "Subject: one\n\nhello\n.leading dot\n",
  "Subject: two\r\n\r\nalready crlf\r\n..two dots\r\n",
  "Subject: big\n\n" + "x".repeat(70).concat("\n").repeat(30000),
  ".\n\n.\n",
];

describe("pop3d driver", () => {
  test("sizes in STAT and LIST are the octets actually sent (dot-stuffing aside), for every message", () => {
    const mailbox = new MemoryMailbox(MESSAGES);
    const channel = new MemoryChannel(["STAT\r\nLIST\r\n", ...MESSAGES.map((_, i) => `RETR ${i + 1}\r\n`), "QUIT\r\n"]);
    const stats = servePop3d(channel, mailbox);
    expect(stats.end).toBe("quit");
    const got = retrieved(channel.output);
    expect(got.length).toBe(MESSAGES.length);
    got.forEach((g, i) => {
      const sent = unstuff(g.body);
      expect(sent).toBe(MESSAGES[i]!.replace(/\r?\n/g, "\r\n"));
      expect(g.size).toBe(Buffer.byteLength(sent, "latin1"));
      expect(channel.output).toContain(`\r\n${i + 1} ${g.size}\r\n`);
    });
    const total = got.reduce((a, g) => a + g.size, 0);
    expect(channel.output).toStartWith(`+OK \r\n+OK ${MESSAGES.length} ${total}\r\n`);
    expect(stats.retrieved).toBe(MESSAGES.length);
  });

  test("pipelined commands are answered in one write; big messages go out in large writes", () => {
    const mailbox = new MemoryMailbox(MESSAGES);
    const channel = new MemoryChannel(["STAT\r\nLIST\r\nUIDL\r\nNOOP\r\nLAST\r\n", "RETR 3\r\n", "QUIT\r\n"]);
    servePop3d(channel, mailbox);
    expect(channel.writes[0]!.length).toBe(6); // greeting, flushed before the first read
    expect(Buffer.from(channel.writes[1]!).toString()).toMatch(/^\+OK 4 \d+\r\n\+OK \r\n1 .*\+OK 0\r\n$/s);
    const retrWrites = channel.writes.slice(2, -1);
    const bigSize = MESSAGES[2]!.length + 30002; // one CR per LF
    expect(retrWrites.reduce((a, w) => a + w.length, 0)).toBe(`+OK ${bigSize} octets\r\n`.length + bigSize + 3);
    for (const w of retrWrites.slice(0, -1)) expect(w.length).toBeGreaterThanOrEqual(64 * 1024);
  });

  test("DELE then a dropped connection removes nothing; QUIT removes exactly the marked messages", () => {
    const dropped = new MemoryMailbox(MESSAGES);
    const s1 = servePop3d(new MemoryChannel(["DELE 1\r\nDELE 2\r\n"]), dropped);
    expect(s1.end).toBe("eof");
    expect(dropped.removed).toEqual([]);
    const timedOut = new MemoryMailbox(MESSAGES);
    const s2 = servePop3d(new MemoryChannel(["DELE 1\r\n"], new ClientTimeout()), timedOut);
    expect(s2.end).toBe("timeout");
    expect(timedOut.removed).toEqual([]);
    const quit = new MemoryMailbox(MESSAGES);
    const channel = new MemoryChannel(["DELE 1\r\nDELE 4\r\nDELE 2\r\nRSET\r\nDELE 4\r\nDELE 2\r\nQUIT\r\n"]);
    const s3 = servePop3d(channel, quit);
    expect(quit.removed).toEqual([[1, 3]]);
    expect(s3.deleted).toBe(2);
    expect(channel.output).toEndWith("+OK \r\n");
  });

  test("a message removed by another session meanwhile: -ERR for it, the rest works", () => {
    const mailbox = new MemoryMailbox(MESSAGES);
    mailbox.vanished.add(0);
    const channel = new MemoryChannel(["RETR 1\r\nTOP 1 0\r\nRETR 2\r\nDELE 1\r\nQUIT\r\n"]);
    const stats = servePop3d(channel, mailbox);
    expect(channel.output).toContain("-ERR unable to open that message\r\n-ERR unable to open that message\r\n+OK ");
    expect(retrieved(channel.output).length).toBe(1);
    expect(stats.end).toBe("quit");
    expect(mailbox.removed).toEqual([[0]]);
  });

  test("TOP sends the headers and n lines", () => {
    const mailbox = new MemoryMailbox(MESSAGES);
    const channel = new MemoryChannel(["TOP 1 1\r\nTOP 4 0\r\n"]);
    servePop3d(channel, mailbox);
    expect(channel.output).toContain("Subject: one\r\n\r\nhello\r\n.\r\n");
    expect(channel.output).toEndWith("..\r\n\r\n.\r\n");
  });
});

describe("popup driver", () => {
  function popup(input: string[], results: ChainResult[], offerApop = false) {
    const channel = new MemoryChannel(input);
    const seen: string[] = [];
    const failures: string[] = [];
    const end = servePopup(channel, {
      timestamp: "<123.456@host.example>",
      offerApop,
      async authenticate(data) {
        seen.push(Buffer.from(data).toString("latin1"));
        return results.shift() ?? { kind: "served" };
      },
      onFailure(user, failure) {
        failures.push(`${Buffer.from(user)} ${failure}`);
      },
    });
    return { channel, seen, failures, end };
  }

  test("greeting with the timestamp only when APOP is offered", async () => {
    const off = popup(["QUIT\r\n"], []);
    expect(await off.end).toBe("quit");
    expect(off.channel.output).toBe("+OK \r\n+OK \r\n");
    const on = popup(["QUIT\r\n"], [], true);
    await on.end;
    expect(on.channel.output).toStartWith("+OK <123.456@host.example>\r\n");
  });

  test("fd-3 data is qmail-popup's: user NUL password NUL timestamp NUL (timestamp also for USER/PASS)", async () => {
    expect(Buffer.from(checkpasswordData(Buffer.from("joe"), Buffer.from("p w"), "<1.2@h>")).toString()).toBe("joe\0p w\0<1.2@h>\0");
    const p = popup(["USER joe\r\n", "PASS secret\r\n"], []);
    expect(await p.end).toBe("served");
    expect(p.seen).toEqual(["joe\0secret\0<123.456@host.example>\0"]);
    const a = popup(["APOP joe 0123456789abcdef0123456789abcdef\r\n"], [], true);
    await a.end;
    expect(a.seen).toEqual(["joe\x000123456789abcdef0123456789abcdef\0<123.456@host.example>\0"]);
  });

  test("commands pipelined after PASS stay unread for the program it runs", async () => {
    const p = popup(["USER joe\r\nPASS secret\r\nSTAT\r\nLIST\r\nQUIT\r\n"], []);
    expect(await p.end).toBe("served");
    expect(p.channel.unread).toBe("STAT\r\nLIST\r\nQUIT\r\n");
  });

  test("a refused login is [AUTH], trouble is [SYS/TEMP]; the client may try again", async () => {
    const p = popup(
      ["USER joe\r\n", "PASS bad\r\n", "PASS bad2\r\n", "PASS good\r\n"],
      [
        { kind: "failed", failure: "rejected", detail: "exit 1" },
        { kind: "failed", failure: "temporary", detail: "exit 111" },
      ],
    );
    expect(await p.end).toBe("served");
    expect(p.channel.output).toBe("+OK \r\n+OK \r\n-ERR [AUTH] authorization failed\r\n-ERR [SYS/TEMP] temporary authorization failure, try again later\r\n");
    expect(p.failures).toEqual(["joe rejected", "joe temporary"]);
    expect(p.seen.length).toBe(3);
  });

  test("end of input, timeout", async () => {
    expect(await popup(["USER joe\r\n"], []).end).toBe("eof");
    const channel = new MemoryChannel(["USER joe\r\n"], new ClientTimeout());
    expect(await servePopup(channel, { timestamp: "<1@h>", offerApop: false, authenticate: async () => ({ kind: "served" }) })).toBe("timeout");
  });
});
