/**
 * Two files in a Maildir with the same unique part (the name before ':'): a copy left by
 * a crash between link and unlink of a mover, a restored backup, `cp` in cur/. They are two
 * messages with two UIDLs. When one of them is gone by the time the client asks for it
 * (another client removed it), the session must not take the other for it: RETR must not
 * send the other message, and DELE + QUIT must not remove the message the client kept.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MaildirMailbox } from "../../mod/pop3/maildir_mailbox.ts";
import { tempDir } from "../helpers.ts";

function maildir(files: Record<string, string>): string {
  const dir = join(tempDir("dup-unique"), "Maildir");
  for (const sub of ["tmp", "new", "cur"]) mkdirSync(join(dir, sub), { recursive: true });
  for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), body);
  return dir;
}

function read(box: MaildirMailbox, index: number): string {
  const r = box.open(index);
  const buf = new Uint8Array(4096);
  let out = "";
  for (let n = r.read(buf); n > 0; n = r.read(buf)) out += Buffer.from(buf.subarray(0, n)).toString("latin1");
  r.close();
  return out;
}

const A = "Subject: kept\n\nthe client keeps this one\n";
const B = "Subject: copy\n\nthe copy\n";
const FILES = { "cur/1700000000.M1P1.host:2,S": A, "cur/1700000000.M1P1.host:2,T": B };

describe("two messages with one unique part", () => {
  test("DELE of the one another client removed leaves the other on disk", () => {
    for (const i of [0, 1]) {
      const fresh = maildir(FILES);
      const b = new MaildirMailbox(fresh, { sizeCache: false });
      expect(b.messages.length).toBe(2);
      const body = read(b, i);
      const mine = Object.keys(FILES).find((n) => FILES[n as keyof typeof FILES] === body)!;
      const other = Object.keys(FILES).find((n) => n !== mine)!;
      unlinkSync(join(fresh, mine)); // removed by another client during the session
      const result = b.remove([i]);
      expect(existsSync(join(fresh, other))).toBe(true);
      expect(result.unremoved).toBe(0);
    }
  });

  test("RETR of the one another client removed never sends the other", () => {
    for (const i of [0, 1]) {
      const dir = maildir(FILES);
      const box = new MaildirMailbox(dir, { sizeCache: false });
      const body = read(box, i);
      const mine = Object.keys(FILES).find((n) => FILES[n as keyof typeof FILES] === body)!;
      unlinkSync(join(dir, mine));
      let served: string | undefined;
      try {
        served = read(box, i);
      } catch (e) {
        expect((e as { code?: string }).code).toBe("ENOENT");
      }
      expect(served).toBeUndefined();
    }
  });

  test("a unique part that is one message's only is still followed through a flag change", () => {
    const dir = maildir({ "cur/1700000000.M1P1.host:2,": A, "cur/1700000001.M1P1.host:2,": B });
    const box = new MaildirMailbox(dir, { sizeCache: false });
    renameSync(join(dir, "cur/1700000000.M1P1.host:2,"), join(dir, "cur/1700000000.M1P1.host:2,S"));
    expect(read(box, 0)).toBe(A);
    expect(box.remove([0]).removed).toBe(1);
    expect(readdirSync(join(dir, "cur"))).toEqual(["1700000001.M1P1.host:2,"]);
  });

  test("two files now carry a listed message's unique part: neither is taken for it", () => {
    const dir = maildir({ "cur/1700000000.M1P1.host:2,": A });
    const box = new MaildirMailbox(dir, { sizeCache: false });
    renameSync(join(dir, "cur/1700000000.M1P1.host:2,"), join(dir, "cur/1700000000.M1P1.host:2,S"));
    writeFileSync(join(dir, "cur/1700000000.M1P1.host:2,T"), B);
    expect(() => read(box, 0)).toThrow();
    box.remove([0]);
    expect(readdirSync(join(dir, "cur")).sort()).toEqual(["1700000000.M1P1.host:2,S", "1700000000.M1P1.host:2,T"]);
  });
});
