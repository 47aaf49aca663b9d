/**
 * A message that cannot be read after its +OK went out (an I/O error half-way through the
 * file): the session ends there without the terminating dot, as qmail-pop3d dies, so the
 * client sees a broken transfer. It used to end the message with ".", and the client took the
 * piece for the whole message, and could DELE it and QUIT: the rest was lost. The transaction
 * loop is the one every host runs (pop3d over fds, serve --inline over sockets).
 */
import { describe, expect, test } from "bun:test";
import type { MessageReader } from "../../mod/pop3/mailbox.ts";
import { servePop3d } from "../../mod/session/transaction_loop.ts";
import { MemoryChannel, MemoryMailbox } from "../pop3/memory.ts";

/** Message `failing` gives its first `readSize` octets, then every read fails with EIO. */
class FailingMailbox extends MemoryMailbox {
  constructor(bodies: string[], readonly failing: number) {
    super(bodies, undefined, 4096);
  }
  override open(index: number): MessageReader {
    const inner = super.open(index);
    if (index !== this.failing) return inner;
    let reads = 0;
    return {
      read: (buf) => {
        if (reads++ > 0) throw Object.assign(new Error("input/output error"), { code: "EIO" });
        return inner.read(buf);
      },
      close: () => inner.close(),
    };
  }
}

const BIG = `Subject: big\n\n${"line of the message\n".repeat(2000)}`;

describe("a read error after +OK", () => {
  for (const options of [{}, { autoDelete: true }, { updateOnAbort: true, autoDelete: true }]) {
    test(`ends the session without the terminator; DELE and QUIT after it are not run (${JSON.stringify(options)})`, () => {
      const mailbox = new FailingMailbox(["Subject: small\n\nsmall\n", BIG], 1);
      const channel = new MemoryChannel(["RETR 1\r\nRETR 2\r\nDELE 2\r\nQUIT\r\n"]);
      const stats = servePop3d(channel, mailbox, options);
      const out = channel.output;
      const second = out.indexOf("+OK ", out.indexOf("small\r\n.\r\n"));
      expect(out.slice(second)).toMatch(/^\+OK \d+ octets\r\nSubject: big\r\n/);
      expect(out.slice(second)).not.toContain("\r\n.\r\n");
      expect(out).not.toContain("message 2 deleted");
      expect(stats.end).toBe("read-error");
      expect(stats.problems).toEqual(["unable to read message 2: EIO"]);
      expect(stats.retrieved).toBe(1);
      // Only auto-delete with update-on-abort removes anything: the message sent whole, never the broken one.
      expect(mailbox.removed).toEqual(options.updateOnAbort ? [[0]] : []);
    });
  }
});
