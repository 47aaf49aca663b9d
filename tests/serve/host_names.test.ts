/**
 * TCPLOCALHOST and TCPREMOTEHOST for addresses that /etc/hosts names: the canonical name, as
 * the C library gives it (`getent hosts IP`), never one of the line's aliases. Each server
 * runs in a private mount namespace whose /etc/hosts is a file of the test's (bind-mounted),
 * so the machine's own file is never touched.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { applet, removeTempDirs, requireTool, run, startPortServer, tempDir } from "../helpers.ts";
import { maskLog, talk } from "./harness.ts";

const dir = tempDir("host-names");
const hosts = join(dir, "hosts");
// The canonical name first, then aliases: the layout of Debian's own `127.0.1.1 host.domain host`.
writeFileSync(hosts, "127.0.0.1 localhost\n127.0.0.2 pop.example.org pop pop3\n127.0.0.3 mail.example.net mail\n");

/** `argv` run with `hosts` as /etc/hosts, in a mount namespace of its own. */
function withHosts(argv: string[]): string[] {
  return [requireTool("unshare"), "-m", "sh", "-c", `mount --bind ${hosts} /etc/hosts && exec "$0" "$@"`, ...argv];
}

const CHILD = ["sh", "-c", "echo \"local=${TCPLOCALHOST-unset} remote=${TCPREMOTEHOST-unset} x=${X-unset}\""];

async function serveOnce(flags: string[]): Promise<{ out: string; log: string }> {
  const s = await startPortServer(withHosts([applet("tcpserver"), "-1", "-v", "-R", ...flags, "127.0.0.3", "0", ...CHILD]), { env: { PATH: "/usr/bin:/bin" } });
  try {
    const { out } = await talk(s.port, { host: "127.0.0.3", localAddress: "127.0.0.2" });
    await s.stop();
    return { out, log: maskLog(s.log()) };
  } finally {
    await s.stop();
  }
}

afterAll(removeTempDirs);

describe("serve: host names that /etc/hosts gives", () => {
  test("the C library's name for each address is the line's first name", () => {
    const r = run(withHosts([requireTool("getent"), "hosts", "127.0.0.2", "127.0.0.3"]));
    expect(r.code).toBe(0);
    expect(r.out.split("\n").filter((l) => l !== "").map((l) => l.split(/\s+/).slice(0, 2).join(" "))).toEqual(["127.0.0.2 pop.example.org", "127.0.0.3 mail.example.net"]);
  });

  test("-h and -p: TCPLOCALHOST and TCPREMOTEHOST are those canonical names, in the environment and the ok line", async () => {
    for (const flag of ["-h", "-p"]) {
      const { out, log } = await serveOnce([flag]);
      expect({ flag, out }).toEqual({ flag, out: "local=mail.example.net remote=pop.example.org x=unset\n" });
      expect(log).toContain("tcpserver: ok PID mail.example.net:127.0.0.3:PORT pop.example.org:127.0.0.2::PORT");
    }
  });

  test("a =host rule with the canonical name matches", async () => {
    const rules = join(dir, "rules.cdb");
    const c = run([applet("tcprules"), rules, join(dir, "rules.tmp")], { stdin: "=pop.example.org:allow,X=\"canonical\"\n=pop:allow,X=\"alias\"\n:deny\n" });
    expect(c.code).toBe(0);
    const { out } = await serveOnce(["-h", "-x", rules]);
    expect(out).toBe("local=mail.example.net remote=pop.example.org x=canonical\n");
  });
});
