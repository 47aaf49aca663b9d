/**
 * System accounts whose uid and gid are above 2^31 - 1 (valid on Linux up to 4294967294), for
 * tests of the id switch: a group and a user with the same free id in 3000000000..3999999999,
 * a yescrypt password and, when asked, a home (0755, theirs) in a world-traversable directory.
 * Each test file removes the accounts it made with `afterAll(removeHighAccounts)`.
 */
import { randomInt } from "node:crypto";
import { chmodSync, chownSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { run, runAccountTool, tempDir } from "../helpers.ts";

export interface HighAccount {
  name: string;
  uid: number;
  gid: number;
  home: string;
  password: string;
}

const made: string[] = [];
const PATH = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" };

export function removeHighAccounts(): void {
  for (const name of made.splice(0)) {
    Bun.spawnSync(["userdel", "-f", name], { env: PATH });
    Bun.spawnSync(["groupdel", name], { env: PATH });
  }
}

/** A free id above 3000000000 (no account, no group has it). */
function freeId(): number {
  for (;;) {
    const id = 3_000_000_000 + randomInt(0, 999_999_999);
    if (run(["getent", "passwd", String(id)]).code === 2 && run(["getent", "group", String(id)]).code === 2) return id;
  }
}

/** A new account `PREFIX`NNNN with uid = gid above 2^31 - 1; its home is made (with `home`) under a shared directory. */
export function highAccount(prefix: string, opts: { home?: boolean } = {}): HighAccount {
  const id = freeId();
  const name = `${prefix}${id % 100000}`;
  const base = tempDir(`${prefix}home`);
  chmodSync(base, 0o755);
  const home = join(base, name);
  const password = "Big.Id-3e9";
  runAccountTool(["groupadd", "-g", String(id), name], "groupadd");
  made.push(name);
  runAccountTool(["useradd", "-M", "-d", home, "-s", "/usr/sbin/nologin", "-u", String(id), "-g", String(id), name], "useradd");
  runAccountTool(["chpasswd", "-c", "YESCRYPT"], "chpasswd", `${name}:${password}\n`);
  if (opts.home !== false) {
    mkdirSync(home, { mode: 0o755 });
    chownSync(home, id, id);
  }
  return { name, uid: id, gid: id, home, password };
}
