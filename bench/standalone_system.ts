/**
 * System users for the standalone benchmark: real accounts (useradd, yescrypt through
 * chpasswd in /etc/shadow), each with their own ~/Maildir and uid, as a host with local
 * mail accounts has them. poppin serves them with serve as root (no -u: each session runs
 * as its user); Dovecot with its shadow passdb and passwd userdb. Removed with removeAll().
 */
import { chmodSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { fillMaildir } from "./fixtures.ts";

export interface SystemUser {
  login: string;
  uid: number;
  gid: number;
  home: string;
  hash: string;
}

const made: string[] = [];

function must(argv: string[], input?: string): string {
  const r = Bun.spawnSync(argv, { stdin: input === undefined ? "ignore" : Buffer.from(input), env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" } });
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

/** A new account `prefix`+suffix with `password` (yescrypt) and `count` messages of `octets` in ~/Maildir. */
export function systemUser(base: string, prefix: string, password: string, count: number, octets: number): SystemUser & { octets: number } {
  const login = `${prefix}${randomBytes(2).toString("hex")}`;
  const home = join(base, login);
  must(["useradd", "-M", "-d", home, "-s", "/usr/sbin/nologin", "-U", login]);
  made.push(login);
  must(["chpasswd", "-c", "YESCRYPT"], `${login}:${password}\n`);
  const uid = Number(must(["id", "-u", login]).trim());
  const gid = Number(must(["id", "-g", login]).trim());
  mkdirSync(home, { recursive: true });
  const total = fillMaildir(join(home, "Maildir"), count, () => octets);
  must(["chown", "-R", `${uid}:${gid}`, home]);
  chmodSync(home, 0o700);
  const shadow = must(["getent", "shadow", login]).split(":")[1] ?? "";
  return { login, uid, gid, home, hash: shadow, octets: total };
}

export function removeSystemUsers(): void {
  for (const login of made.splice(0)) Bun.spawnSync(["userdel", "-f", login]);
}
