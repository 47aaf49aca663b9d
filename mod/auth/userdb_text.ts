/**
 * The virtual-user text file: one account per line,
 *   login:hash:uid:gid:home[:apop-secret]
 * Blank lines and lines starting with `#` are kept as they are. The login and the
 * home contain no `:`; the APOP secret is the rest of the line (it may contain `:`).
 * `poppin users compile` turns it into a cdb keyed by login (value: the line after `login:`).
 * The hash field may carry SCRAM keys after the crypt hash, separated by spaces
 * (mod/sasl/scram_keys.ts): `$y$... {SCRAM-SHA-1}4096,... {SCRAM-SHA-256}4096,...`.
 */
import { joinHashField, splitHashField, type ScramKeySet } from "../sasl/scram_keys.ts";

export interface VirtualUser {
  login: string;
  hash: string;
  uid: number;
  gid: number;
  home: string;
  /** Qpopper-style popauth secret for APOP; undefined when the user has none. */
  apopSecret: string | undefined;
  /** SCRAM keys set with the password (users add/passwd); undefined for entries from before. */
  scram?: ScramKeySet;
}

/** A parse error with the line number (1-based) for messages. */
export class UserLineError extends Error {
  readonly line: number;
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.line = line;
  }
}

const ID = /^(0|[1-9][0-9]{0,9})$/;
const USER_LINE = "login:hash:uid:gid:home[:apop-secret]";
/** Dovecot's schemes whose hash after the {PREFIX} is crypt(3)'s own. */
const DOVECOT_CRYPT_SCHEMES = new Set(["CRYPT", "DES-CRYPT", "MD5-CRYPT", "SHA256-CRYPT", "SHA512-CRYPT", "BLF-CRYPT"]);
/** Bound on a line: keeps a cdb value and a popup login sane. */
export const MAX_LINE = 4096;

function parseId(text: string, what: string, line: number): number {
  if (!ID.test(text) || Number(text) > 0xfffffffe) throw new UserLineError(line, `bad ${what}`);
  return Number(text);
}

/** Checks a login for the file: no separator, no NUL/newline, not empty. */
export function validLogin(login: string): boolean {
  return login.length > 0 && login.length <= 255 && !/[:\0\n\r]/.test(login) && !login.startsWith("#") && login.trim() === login;
}

/** Parses the fields after `login:` (the cdb value). */
export function parseUserValue(login: string, value: string, line = 0): VirtualUser {
  const fields = value.split(":");
  if (fields.length < 4) throw new UserLineError(line, "expected login:hash:uid:gid:home[:apop-secret]");
  const [hashField, uid, gid, home] = fields;
  if (!home.startsWith("/")) {
    // user:password:uid:gid:gecos:home:shell:extra, as Dovecot's passwd-file (and /etc/passwd) writes it.
    if (fields[4]?.startsWith("/")) throw new UserLineError(line, `home must be an absolute path: this line has Dovecot's passwd-file layout (user:password:uid:gid:gecos:home:shell:extra); poppin's is ${USER_LINE}: remove the gecos field and the fields after home`);
    throw new UserLineError(line, "home must be an absolute path");
  }
  const apop = fields.length > 4 ? fields.slice(4).join(":") : undefined;
  // Dovecot's empty shell and extra fields left after home would make ":" an APOP secret anyone can use.
  if (apop !== undefined && apop !== "" && /^:+$/.test(apop)) throw new UserLineError(line, `empty fields after home (Dovecot's shell and extra fields?): remove them; ${USER_LINE} takes one field after home, the APOP secret`);
  const { hash, scram, extra } = splitHashField(hashField);
  if (extra.length > 0) throw new UserLineError(line, "bad SCRAM keys after the hash");
  const scheme = /^\{([A-Za-z0-9._-]+)\}/.exec(hash)?.[1];
  if (scheme !== undefined) {
    if (DOVECOT_CRYPT_SCHEMES.has(scheme.toUpperCase())) throw new UserLineError(line, `Dovecot's {${scheme}} prefix before the hash: remove it (the crypt(3) hash after it works as it is)`);
    throw new UserLineError(line, `{${scheme}} is a Dovecot password scheme that crypt(3) cannot check: set the password again (poppin users passwd ${login})`);
  }
  return {
    login,
    hash,
    ...(scram.sha1 || scram.sha256 ? { scram } : {}),
    uid: parseId(uid, "uid", line),
    gid: parseId(gid, "gid", line),
    home,
    apopSecret: apop === "" ? undefined : apop,
  };
}

/** Parses one line; undefined for blank and comment lines. */
export function parseUserLine(text: string, line = 0): VirtualUser | undefined {
  if (text.trim() === "" || text.startsWith("#")) return undefined;
  if (text.length > MAX_LINE) throw new UserLineError(line, "line too long");
  const colon = text.indexOf(":");
  if (colon <= 0) throw new UserLineError(line, "expected login:hash:uid:gid:home[:apop-secret]");
  const login = text.slice(0, colon);
  if (!validLogin(login)) throw new UserLineError(line, "bad login");
  return parseUserValue(login, text.slice(colon + 1), line);
}

/** The value stored in the cdb for a user (the line without `login:`). */
export function formatUserValue(user: VirtualUser): string {
  const base = `${joinHashField(user.hash, user.scram)}:${user.uid}:${user.gid}:${user.home}`;
  return user.apopSecret === undefined ? base : `${base}:${user.apopSecret}`;
}

export function formatUserLine(user: VirtualUser): string {
  return `${user.login}:${formatUserValue(user)}`;
}

/** A whole file: lines as they are, with the parsed user (if any) beside each. */
export interface UserFile {
  lines: { text: string; user: VirtualUser | undefined }[];
}

/** Parses a whole file; throws UserLineError on the first bad line or a duplicate login. */
export function parseUserFile(text: string): UserFile {
  const raw = text.split("\n");
  if (raw.length > 0 && raw[raw.length - 1] === "") raw.pop();
  const seen = new Set<string>();
  const lines = raw.map((t, i) => {
    const user = parseUserLine(t, i + 1);
    if (user) {
      if (seen.has(user.login)) throw new UserLineError(i + 1, `duplicate login ${user.login}`);
      seen.add(user.login);
    }
    return { text: t, user };
  });
  return { lines };
}

export function formatUserFile(file: UserFile): string {
  return file.lines.map((l) => (l.user ? formatUserLine(l.user) : l.text) + "\n").join("");
}
