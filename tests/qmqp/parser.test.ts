/** The QMQP parser, the answers and the Received line as units (no process, no disk). */
import { describe, expect, test } from "bun:test";
import { netstring, queueExitAnswer } from "../../mod/qmqp/answers.ts";
import { QmqpParser, QmqpProtocolError } from "../../mod/qmqp/parser.ts";
import { date822, receivedLine } from "../../mod/qmqp/received.ts";
import { qmqpRequest } from "./client.ts";

const LIMITS = { maxMessage: 1000, maxRecipients: 3 };

function parse(bytes: Uint8Array, chunk = bytes.length, limits = LIMITS) {
  const p = new QmqpParser(limits);
  for (let i = 0; i < bytes.length && !p.done; i += chunk) p.feed(bytes.subarray(i, i + chunk));
  return p;
}

describe("QmqpParser", () => {
  const request = qmqpRequest("Subject: x\n\nbody\n", "s@example.org", ["a@x", "b@y"]);

  test("the same request whatever the chunking", () => {
    for (const chunk of [1, 2, 3, 7, 64, request.length]) {
      const p = parse(request, chunk);
      expect(p.done).toBe(true);
      expect(Buffer.concat(p.request.message).toString()).toBe("Subject: x\n\nbody\n");
      expect(Buffer.from(p.request.sender).toString()).toBe("s@example.org");
      expect(p.request.recipients.map((r) => Buffer.from(r).toString())).toEqual(["a@x", "b@y"]);
      expect(p.request.badAddress || p.request.tooBig || p.request.tooManyRecipients).toBe(false);
    }
  });

  test("stops at the final comma and leaves the rest unread", () => {
    const p = new QmqpParser(LIMITS);
    const used = p.feed(Buffer.concat([request, Buffer.from("extra")]));
    expect(p.done).toBe(true);
    expect(used).toBe(request.length);
  });

  test("empty sender is fine; too many recipients is flagged", () => {
    const p = parse(qmqpRequest("m", "", ["a", "b", "c", "d"]));
    expect(p.request.sender.length).toBe(0);
    expect(p.request.tooManyRecipients).toBe(true);
    expect(p.request.recipients.length).toBe(3);
  });

  test("a message over the limit: counted, dropped, flagged", () => {
    const p = parse(qmqpRequest("z".repeat(1001), "s", ["r"]), 100);
    expect(p.done).toBe(true);
    expect(p.request.tooBig).toBe(true);
    expect(p.request.messageSize).toBe(1001);
    expect(p.request.message).toEqual([]);
  });

  test("addresses of 999 bytes pass, 1000 and NUL do not", () => {
    expect(parse(qmqpRequest("m", "s", ["a".repeat(999)])).request.badAddress).toBe(false);
    expect(parse(qmqpRequest("m", "s", ["a".repeat(1000)])).request.badAddress).toBe(true);
    expect(parse(qmqpRequest("m", "s\0x", ["r"])).request.badAddress).toBe(true);
  });

  for (const [what, bytes] of [
    ["no length", ":"],
    ["a letter in a length", "1a:"],
    ["eleven digits", "12345678901:"],
    ["an empty request", "0:,"],
    ["a missing inner comma", "10:1:m;1:s,1:r,,"],
    ["an inner netstring longer than the request", "6:9:m,"],
    ["no recipient", "8:1:m,1:s,,"],
    ["no final comma", "12:1:m,1:s,1:r,;"],
  ] as const) {
    test(`refuses ${what}`, () => {
      expect(() => parse(Buffer.from(bytes))).toThrow(QmqpProtocolError);
    });
  }
});

describe("answers and header lines", () => {
  test("netstring answers", () => {
    expect(Buffer.from(netstring("Kok 1 qp 2")).toString()).toBe("10:Kok 1 qp 2,");
  });

  test("qmail-queue exit codes as qmail_close words them", () => {
    expect(queueExitAnswer(0, null)).toBe("");
    expect(queueExitAnswer(115, null)).toBe("Denvelope address too long for qq (#5.1.3)");
    expect(queueExitAnswer(64, null)).toBe("Zqq trouble creating files in queue (#4.3.0)");
    expect(queueExitAnswer(40, null)).toBe("Dqq permanent problem (#5.3.0)");
    expect(queueExitAnswer(41, null)).toBe("Zqq temporary problem (#4.3.0)");
    expect(queueExitAnswer(null, "SIGKILL")).toBe("Zqq crashed (#4.3.0)");
  });

  test("date822fmt and the Received line", () => {
    const when = new Date(Date.UTC(2026, 0, 5, 3, 4, 5));
    expect(date822(when)).toBe("5 Jan 2026 03:04:05 -0000");
    expect(receivedLine({}, when)).toBe("Received: from unknown (unknown)\n  by unknown with QMQP; 5 Jan 2026 03:04:05 -0000\n");
    expect(receivedLine({ TCPREMOTEHOST: "h.example", TCPREMOTEIP: "192.0.2.1", TCPREMOTEINFO: "joe", TCPLOCALIP: "10.0.0.1" }, when))
      .toBe("Received: from h.example (joe@192.0.2.1)\n  by 10.0.0.1 with QMQP; 5 Jan 2026 03:04:05 -0000\n");
  });
});
