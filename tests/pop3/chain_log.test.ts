/** The names popup forwards its checkpassword chain's log lines under (mod/pop3/chain.ts, mod/standalone/user_log.ts). */
import { describe, expect, test } from "bun:test";
import { chainLogNames } from "../../mod/pop3/chain.ts";
import { userLogLine } from "../../mod/standalone/user_log.ts";

const enc = new TextEncoder();

describe("the chain's log names", () => {
  test("pop3d's first (the program running as the user), then checkpassword's; classic and multi-call", () => {
    expect(chainLogNames(["/usr/bin/checkpassword", "qmail-pop3d", "Maildir"])).toEqual(["qmail-pop3d", "poppin qmail-pop3d", "checkpassword", "poppin checkpassword"]);
    expect(chainLogNames(["/opt/poppin", "checkpassword", "--userdb=/etc/u.cdb", "/bin/sh", "-c", "x"])).toEqual(["sh", "poppin sh", "poppin checkpassword"]);
    expect(chainLogNames(["/opt/poppin", "checkpassword", "--userdb=/etc/u.cdb", "poppin", "pop3d", "Maildir"])).toEqual(["poppin pop3d", "poppin checkpassword"]);
    expect(chainLogNames(["/x/checkpassword"])).toEqual(["checkpassword", "poppin checkpassword"]);
    expect(chainLogNames([])).toEqual([]);
  });

  test("an argument that is a file but no program (a proxy's route table) lends no name", () => {
    expect(chainLogNames(["/x/proxy", "/etc/poppin/routes.cdb"])).toEqual(["proxy", "poppin proxy"]);
  });

  test("a chain named like popup or tcpserver lends none of those names", () => {
    expect(chainLogNames(["/x/qmail-popup", "tcpserver", "y"])).toEqual([]);
    expect(chainLogNames(["/x/popup"])).toEqual([]);
  });

  test("lines of either program are kept; anything else is pop3d's warning", () => {
    const names = ["poppin pop3d", "poppin checkpassword"];
    expect(userLogLine(names, enc.encode("poppin checkpassword: fatal: unable to read /etc/u.cdb"))).toBe("poppin checkpassword: fatal: unable to read /etc/u.cdb\n");
    expect(userLogLine(names, enc.encode("poppin pop3d: info: end=quit user=joe"))).toBe("poppin pop3d: info: end=quit user=joe\n");
    expect(userLogLine(names, enc.encode("poppin popup: warning: authorization failed rip=203.0.113.9 user=x")))
      .toBe("poppin pop3d: warning: poppin popup: warning: authorization failed rip=203.0.113.9 user=x\n");
    expect(userLogLine(names, enc.encode("poppin checkpassword: poppin popup: warning: authorization failed rip=203.0.113.9 user=x")))
      .toBe("poppin pop3d: warning: poppin checkpassword: poppin popup: warning: authorization failed rip=203.0.113.9 user=x\n");
  });
});
