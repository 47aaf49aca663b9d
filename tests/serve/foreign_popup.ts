/**
 * A stand-in for a foreign qmail-popup in front of poppin's checkpassword: a script that hands
 * alice's login on fd 3 and runs the rest, and a program after checkpassword that records its
 * environment in `out`.
 */
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface ForeignPopup {
  /** The popup script: `popup checkpassword record`. */
  popup: string;
  /** The program checkpassword runs: writes `env` to `out`. */
  record: string;
  out: string;
}

export function foreignPopup(dir: string): ForeignPopup {
  const sub = join(dir, "foreign");
  mkdirSync(sub);
  chmodSync(sub, 0o1777);
  const login = join(sub, "login");
  writeFileSync(login, "alice\0alice pw\0\0", { mode: 0o644 });
  const out = join(sub, "env.out");
  const record = join(sub, "record");
  writeFileSync(record, `#!/bin/sh\nenv > ${out}\n`, { mode: 0o755 });
  const popup = join(sub, "popup");
  writeFileSync(popup, `#!/bin/sh\nexec 3<${login}\nexec "$@"\n`, { mode: 0o755 });
  return { popup, record, out };
}
