/**
 * A Dovecot mail_location carried into pop3d's Maildir argument (`/var/vmail/%u/Maildir`,
 * `~/Maildir` quoted where no shell expands it): nothing expands these, so every login would
 * fail or, worse, every user would share one literal directory. serve refuses the chain before
 * it listens, naming the argument, and pop3d says why after its usage line.
 */
import { expect, test } from "bun:test";
import { parsePop3dArgs } from "../../mod/session/pop3d_args.ts";
import { applet, POPPIN, run } from "../helpers.ts";

test("Dovecot variables and an unexpanded ~ in the Maildir are refused with the reason", () => {
  expect(parsePop3dArgs(["/var/vmail/%u/Maildir"], {})).toBe("the Maildir /var/vmail/%u/Maildir holds %u, a Dovecot variable nothing expands here: pop3d opens the Maildir in each user's home (write Maildir for ~/Maildir)");
  expect(parsePop3dArgs(["/srv/%d/%n/Maildir"], {})).toContain("holds %d, a Dovecot variable");
  expect(parsePop3dArgs(["/var/vmail/%{user}"], {})).toContain("holds %{user}, a Dovecot variable");
  expect(parsePop3dArgs(["~/Maildir"], {})).toBe("the Maildir ~/Maildir starts with ~, which no shell expanded: pop3d opens the Maildir in each user's home (write Maildir for ~/Maildir)");
  // What qmail-pop3d takes stays: a name in the home, an absolute path, a % that is no variable.
  for (const ok of ["Maildir", "./Maildir", "/var/mail/shared/Maildir", "Mail%20dir"]) expect(typeof parsePop3dArgs([ok], {})).toBe("object");
  // serve's check before it listens (poppin config makes the same): exit 111, the argument named.
  const config = run([POPPIN, "config", "127.0.0.1", "1", "qmail-popup", "h", "checkpassword", "qmail-pop3d", "/var/vmail/%u/Maildir"]);
  expect(config.code).toBe(111);
  expect(config.stderr).toContain("poppin config: fatal: qmail-pop3d: the Maildir /var/vmail/%u/Maildir holds %u");
  // qmail-pop3d answers as qmail's and exits 0, then says why on stderr.
  const pop3d = run([applet("qmail-pop3d"), "~/Maildir"], { stdin: "QUIT\r\n" });
  expect([pop3d.code, pop3d.out]).toEqual([0, "-ERR this user has no $HOME/Maildir\r\n"]);
  expect(pop3d.stderr).toContain("qmail-pop3d: fatal: the Maildir ~/Maildir starts with ~, which no shell expanded");
});
