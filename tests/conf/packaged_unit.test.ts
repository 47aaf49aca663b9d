/**
 * The Debian package's poppin-pop3.service runs the same chain as root as `conf --systemd`'s
 * units do, so it gets the same fence (NoNewPrivileges, the capability bounding set,
 * ProtectSystem ...) and the same SyslogIdentifier; it had none of them. Both pass
 * systemd-analyze verify.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { requireTool, run } from "../helpers.ts";
import { hardening } from "../../mod/conf/systemd.ts";
import { packagedService } from "../../scripts/package.ts";

const ROOT = join(import.meta.dir, "..", "..");

test("the packaged poppin-pop3.service carries conf's hardening for a POP3 chain, and systemd accepts it", () => {
  const unit = packagedService(readFileSync(join(ROOT, "scripts", "systemd", "poppin-pop3.service"), "utf8"));
  const service = unit.slice(unit.indexOf("[Service]"), unit.indexOf("[Install]")).split("\n");
  const fence = hardening("pop3d").filter((l) => !l.startsWith("#"));
  expect(fence).toContain("NoNewPrivileges=yes");
  for (const line of fence) expect([line, service.includes(line)]).toEqual([line, true]);
  expect(service).toContain("SyslogIdentifier=poppin");
  const verify = run([requireTool("systemd-analyze"), "verify", join(ROOT, "scripts", "systemd", "poppin-pop3.socket"), join(ROOT, "scripts", "systemd", "poppin-pop3.service")], { timeoutMs: 30_000 });
  expect(verify.stderr.split("\n").filter((l) => l && !/is not executable/.test(l))).toEqual([]);
});
