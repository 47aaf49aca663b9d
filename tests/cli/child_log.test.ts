/** The log lines of processes running as a mailbox owner, as popup and serve --inline copy them (mod/cli/child_log.ts). */
import { describe, expect, test } from "bun:test";
import { CHILD_LOG_LINE_MAX, ChildLogRelay, chainLogNames, childLogLine } from "../../mod/cli/child_log.ts";

function relayed(names: string[], chunks: (string | Uint8Array)[]): string[] {
  const out: string[] = [];
  const relay = new ChildLogRelay(names, (l) => out.push(l));
  for (const c of chunks) relay.feed(typeof c === "string" ? Buffer.from(c, "utf8") : c);
  relay.end();
  return out;
}

describe("child log lines", () => {
  test("the chain's names: checkpassword's and its program's, classic and multi-call", () => {
    expect(chainLogNames(["/usr/bin/checkpassword", "/var/qmail/bin/qmail-pop3d", "Maildir"])).toEqual(["checkpassword", "qmail-pop3d"]);
    expect(chainLogNames(["/opt/poppin", "checkpassword", "--userdb=/etc/u.cdb", "/opt/poppin", "pop3d", "Maildir"])).toEqual(["poppin checkpassword", "poppin pop3d"]);
    expect(chainLogNames([])).toEqual([]);
  });

  test("a line with the child's own name is kept byte for byte; anything else gets the user's program's name", () => {
    const names = ["poppin checkpassword", "poppin pop3d"];
    expect(relayed(names, ["poppin pop3d: info: end=quit user=joe\npoppin checkpassword: fatal: x\n"])).toEqual([
      "poppin pop3d: info: end=quit user=joe\n", "poppin checkpassword: fatal: x\n",
    ]);
    expect(relayed(names, ["poppin popup: warning: authorization failed rip=203.0.113.1 user=x\n"])).toEqual([
      "poppin pop3d: poppin popup: warning: authorization failed rip=203.0.113.1 user=x\n",
    ]);
    expect(relayed(names, ["tcpserver: ok 1 a:b\n"])).toEqual(["poppin pop3d: tcpserver: ok 1 a:b\n"]);
  });

  test("a parent's name is never accepted as the child's, even when the chain is named so", () => {
    expect(childLogLine("qmail-popup: warning: forged", ["qmail-popup"])).toBe("child: qmail-popup: warning: forged\n");
  });

  test("lines split across chunks are joined; CR, ESC and other controls are escaped; a last line without LF is kept", () => {
    expect(relayed(["qmail-pop3d"], ["qmail-pop3d: a", "b\r\x1b[2Jc\nqmail-pop3d: tail"])).toEqual([
      "qmail-pop3d: ab%0D%1B[2Jc\n", "qmail-pop3d: tail\n",
    ]);
  });

  test("an endless line is cut into bounded lines, each with the name in front", () => {
    const long = "qmail-pop3d: " + "x".repeat(3 * CHILD_LOG_LINE_MAX);
    const out = relayed(["qmail-pop3d"], [long.slice(0, 5000), long.slice(5000), "\n"]);
    expect(out.length).toBe(4);
    for (const l of out) {
      expect(l.startsWith("qmail-pop3d: ")).toBe(true);
      expect(Buffer.byteLength(l)).toBeLessThanOrEqual(CHILD_LOG_LINE_MAX + "qmail-pop3d: \n".length);
    }
    expect(out.join("").replace(/qmail-pop3d: |\n/g, "")).toBe("x".repeat(3 * CHILD_LOG_LINE_MAX));
  });

  test("UTF-8 text stays UTF-8", () => {
    expect(relayed(["qmail-pop3d"], ["qmail-pop3d: caf\u00e9\n"])).toEqual(["qmail-pop3d: caf\u00e9\n"]);
  });
});
