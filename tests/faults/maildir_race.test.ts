/**
 * Two sessions on one Maildir without the session lock (mailbox-lock = none, qmail's
 * lock-free way): a message this session listed in new/ may be moved to cur/ by the other
 * session before RETR or QUIT. It must still be read, and a QUIT that answers +OK must
 * really remove it (not count the vanished new/ name as "already gone" and leave it in cur/).
 * The race is made deterministic: a directory in cur/ blocks this session's own move.
 */
import { expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, renameSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MaildirMailbox } from "../../mod/pop3/maildir_mailbox.ts";
import { tempDir } from "../helpers.ts";

test("a message moved new/ -> cur/ by another session after the listing is still read and really deleted at QUIT", () => {
  const md = join(tempDir("race"), "Maildir");
  for (const sub of ["tmp", "new", "cur"]) mkdirSync(join(md, sub), { recursive: true });
  const name = "1700000000.M1P1.host";
  writeFileSync(join(md, "new", name), "Subject: raced\n\nbody\n");
  writeFileSync(join(md, "cur", "1700000001.M2P1.host:2,"), "Subject: other\n\nbody\n");
  mkdirSync(join(md, "cur", `${name}:2,`)); // this session's move fails: it lists new/NAME
  const warnings: string[] = [];
  const box = new MaildirMailbox(md, { sizeCache: false, onWarning: (w) => warnings.push(w) });
  expect(box.messages.length).toBe(2);
  expect(warnings.join("\n")).toContain("unable to move");
  // The other session moves it now.
  rmdirSync(join(md, "cur", `${name}:2,`));
  renameSync(join(md, "new", name), join(md, "cur", `${name}:2,`));
  const index = box.messages.findIndex((m) => m.uidl === name);
  const reader = box.open(index);
  const buf = new Uint8Array(100);
  const n = reader.read(buf);
  reader.close();
  expect(Buffer.from(buf.subarray(0, n)).toString()).toContain("Subject: raced");
  const result = box.remove([index]);
  expect(result).toEqual({ removed: 1, unremoved: 0, problems: [] });
  expect(existsSync(join(md, "cur", `${name}:2,`))).toBe(false);
  expect(readdirSync(join(md, "cur"))).toEqual(["1700000001.M2P1.host:2,"]);
});
