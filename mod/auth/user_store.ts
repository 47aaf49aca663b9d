/**
 * The virtual-user file as `poppin users` edits it: read, change one entry, write the
 * text file and its cdb (FILE.cdb) atomically, under an exclusive lock (FILE.lock,
 * flock) so two admins never lose each other's change.
 */
import { closeSync, constants, fchmodSync, fchownSync, fstatSync, lstatSync, openSync, readFileSync } from "node:fs";
import { PermError, TempError, describeSysError } from "../base/errors.ts";
import { CdbWriter } from "../cdb/writer.ts";
import { flockExclusive } from "../sys/locks.ts";
import { lstatOrUndefined, openOwnedAppend } from "../sys/owned_file.ts";
import { openPrivateTemp, writeFileAtomic } from "./atomic_file.ts";
import { prepareUsername } from "./username.ts";
import { formatUserFile, formatUserValue, parseUserFile, UserLineError, type UserFile, type VirtualUser } from "./userdb_text.ts";

/** The text file and the cdb compiled from it. */
export interface UserStorePaths {
  text: string;
  cdb: string;
}

/** Names both files from what the user gave: `users.cdb` means the text file `users`, anything else gets `.cdb` added. */
export function storePaths(name: string): UserStorePaths {
  return name.endsWith(".cdb") ? { text: name.slice(0, -4), cdb: name } : { text: name, cdb: `${name}.cdb` };
}

/** Reads and parses the text file; a missing file is an empty one. */
export function loadUserFile(path: string): UserFile {
  let text: string;
  try {
    // A link another account made (to a users file only root may read) is not followed:
    // what is read here is written back beside it, and --group shares it. Root's own link
    // (an administrator's) is; the rewrite replaces it with a file anyway. Never a FIFO.
    const link = lstatOrUndefined(path);
    const euid = process.geteuid?.() ?? 0;
    if (link?.isSymbolicLink() && link.uid !== 0 && link.uid !== euid) throw new TempError(`unable to read ${path}: it is a symbolic link of uid ${link.uid}`);
    const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | (link?.isSymbolicLink() ? 0 : constants.O_NOFOLLOW));
    try {
      if (!fstatSync(fd).isFile()) throw new TempError(`unable to read ${path}: it is not a regular file`);
      text = readFileSync(fd, "utf8");
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if (err instanceof TempError) throw err;
    if ((err as { code?: string }).code === "ENOENT") return { lines: [] };
    throw new TempError(`unable to read ${path}: ${describeSysError(err)}`);
  }
  try {
    return parseUserFile(text);
  } catch (err) {
    if (err instanceof UserLineError) throw new PermError(`unable to parse ${path}: ${err.message}`);
    throw err;
  }
}

export function findUser(file: UserFile, login: string): VirtualUser | undefined {
  return file.lines.find((l) => l.user?.login === login)?.user;
}

/** The login as stored for `login` as typed: itself, or its RFC 8265 form (mod/auth/username.ts). */
export function storedLogin(file: UserFile, login: string): string {
  if (findUser(file, login)) return login;
  const prepared = prepareUsername(login);
  return findUser(file, prepared) ? prepared : login;
}

/** Adds a user; PermError if the login exists. */
export function addUser(file: UserFile, user: VirtualUser): void {
  if (findUser(file, user.login)) throw new PermError(`user ${user.login} already exists`);
  file.lines.push({ text: "", user });
}

/** Changes a user in place; PermError if unknown. */
export function updateUser(file: UserFile, login: string, change: (user: VirtualUser) => void): void {
  const user = findUser(file, login);
  if (!user) throw new PermError(`no such user: ${login}`);
  change(user);
}

export function deleteUser(file: UserFile, login: string): void {
  const index = file.lines.findIndex((l) => l.user?.login === login);
  if (index < 0) throw new PermError(`no such user: ${login}`);
  file.lines.splice(index, 1);
}

/** Writes the cdb of `file` (key: login, value: the rest of the line) atomically, mode 0600. */
export function compileUserFile(file: UserFile, cdbPath: string): number {
  // Written through the descriptor that created it: never reopened by name, so neither a link
  // put at the name nor the old file's owner (given to the new file) gets in the way.
  const { tmp, fd } = openPrivateTemp(cdbPath);
  const writer = CdbWriter.fromDescriptor(tmp, fd);
  try {
    for (const { user } of file.lines) {
      if (user) writer.add(Buffer.from(user.login, "utf8"), Buffer.from(formatUserValue(user), "utf8"));
    }
    writer.commit(cdbPath);
  } catch (err) {
    writer.abort();
    throw err;
  }
  return writer.recordCount;
}

/** Writes the text file and then its cdb (a new cdb gets the text file's owner, group and mode). */
export function saveUserFile(file: UserFile, paths: UserStorePaths): void {
  writeFileAtomic(paths.text, Buffer.from(formatUserFile(file), "utf8"));
  compileUserFile(file, paths.cdb);
}

/** The gid of a group name (or a number), from /etc/group; PermError when unknown. */
export function groupId(group: string): number {
  if (/^[0-9]{1,10}$/.test(group)) return Number(group);
  let text = "";
  try {
    text = readFileSync("/etc/group", "utf8");
  } catch (err) {
    throw new TempError(`unable to read /etc/group: ${describeSysError(err)}`);
  }
  for (const line of text.split("\n")) {
    const [name, , gid] = line.split(":");
    if (name === group && gid !== undefined && /^[0-9]+$/.test(gid)) return Number(gid);
  }
  throw new PermError(`unknown group ${group}`);
}

/**
 * Changes the owner and mode of the file at `path` itself, through a descriptor opened
 * without following a link: whoever else can write in the directory may have put a link
 * there since it was written, and root must not give a file of its own away through it.
 */
function setOwnerAndMode(path: string, uid: number, gid: number, mode: number): void {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.nlink !== 1) throw new Error(st.isFile() ? `it has ${st.nlink} links` : "it is not a regular file");
    fchownSync(fd, uid, gid);
    fchmodSync(fd, mode);
  } finally {
    closeSync(fd);
  }
}

/**
 * Makes both files readable by group `gid` (mode 0640): a service whose account is in the
 * group (serve -u, qmqpd's account) can read them; nobody else can. Changes later keep it,
 * as every rewrite keeps the old file's owner and mode.
 */
export function shareWithGroup(paths: UserStorePaths, gid: number): void {
  for (const path of [paths.text, paths.cdb]) {
    try {
      setOwnerAndMode(path, lstatSync(path).uid, gid, 0o640);
    } catch (err) {
      const why = (err as { code?: string }).code === "ELOOP" ? "it is a symbolic link" : describeSysError(err);
      throw new TempError(`unable to give ${path} to group ${gid}: ${why}`);
    }
  }
}

/** A cdb made for the first time takes the text file's owner, group and mode (openPrivateTemp gives 0600). */
export function cdbLikeText(paths: UserStorePaths, cdbExisted: boolean): void {
  if (cdbExisted) return;
  try {
    const st = lstatSync(paths.text);
    if (!st.isFile()) return;
    setOwnerAndMode(paths.cdb, st.uid, st.gid, st.mode & 0o7777);
  } catch {
    // no text file (compile of a missing one), not root, or no longer the file written: the cdb stays 0600, which is safe
  }
}

/** Runs `edit` with FILE.lock held (released when the fd closes). */
export function withStoreLock<T>(paths: UserStorePaths, edit: () => T): T {
  const lockPath = `${paths.text}.lock`;
  let fd: number;
  try {
    // Never through a link nor a FIFO another account put there, and only a lock file of ours
    // or of the text file's owner (who may run users too).
    const euid = process.geteuid?.() ?? 0;
    const text = lstatOrUndefined(paths.text);
    fd = openOwnedAppend(lockPath, 0o600, text?.isFile() ? [euid, text.uid] : [euid]);
  } catch (err) {
    throw new TempError(`unable to open ${lockPath}: ${err instanceof TempError ? err.message : describeSysError(err)}`);
  }
  try {
    try {
      flockExclusive(fd);
    } catch (err) {
      const code = (err as { code?: string }).code;
      const why = code === "EAGAIN" || code === "EWOULDBLOCK" ? "held by another process" : describeSysError(err);
      throw new TempError(`unable to lock ${lockPath}: ${why}`);
    }
    return edit();
  } finally {
    closeSync(fd);
  }
}
