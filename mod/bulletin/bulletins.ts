/**
 * Qpopper's bulletins, for Maildirs: the bulletin directory holds numbered files
 * (`NUMBER.name`, a whole message, an mbox "From " line first allowed). At login each
 * bulletin newer than the last one this user saw is delivered once into the user's
 * Maildir (mod/maildir's deliver, so new/ never holds a partial message), and the
 * highest number is kept in `.popbull` in the Maildir. A user with no `.popbull` yet
 * gets only the newest `max-bulletins`. A name with a third element, `NUMBER.GROUP.name`,
 * is a group bulletin: only members of the Unix group GROUP get it.
 */
import { closeSync, readFileSync, readdirSync } from "node:fs";
import { join } from "../base/posix_path.ts";
import { TempError, describeSysError } from "../base/errors.ts";
import { maildirDeliver } from "../maildir/deliver.ts";
import { writeFileAtomic } from "../maildir/size_cache.ts";
import { openRegularFile, readHead } from "../sys/owned_file.ts";

export const SEEN_FILE = ".popbull";
/** Bulletins larger than this are skipped (they are notices, not archives). */
export const MAX_BULLETIN_OCTETS = 16 * 1024 * 1024;

export interface Bulletin {
  number: number;
  file: string;
  /** The group of a group bulletin. */
  group: string | undefined;
}

/** The bulletins in `dir`, oldest first. */
export function listBulletins(dir: string): Bulletin[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    throw new TempError(`unable to read bulletin directory ${dir}: ${describeSysError(e)}`);
  }
  const out: Bulletin[] = [];
  for (const name of names) {
    const m = /^([0-9]{1,15})(?:\.([^.]+)(\..+)?)?$/.exec(name);
    if (!m) continue;
    out.push({ number: Number(m[1]), file: join(dir, name), group: m[3] === undefined ? undefined : m[2] });
  }
  return out.sort((a, b) => a.number - b.number);
}

export interface Membership {
  /** The user's name (group member lists). */
  user: string;
  /**
   * Whether `user` names the system account this session runs as; asked only when a group
   * bulletin's member list would decide. A virtual user's name is no system account's, even
   * when it is spelled like one listed in /etc/group: then only the gids count.
   */
  nameIsAccount?: () => boolean;
  /** The process's gids (pop3d runs as the user). */
  gids: readonly number[];
  /** /etc/group's text (tests pass their own). */
  groupFile?: string;
}

function groupMembers(text: string): Map<string, { gid: number; members: string[] }> {
  const out = new Map<string, { gid: number; members: string[] }>();
  for (const line of text.split("\n")) {
    const [name, , gid, members] = line.split(":");
    if (name && gid !== undefined) out.set(name, { gid: Number(gid), members: (members ?? "").split(",").filter(Boolean) });
  }
  return out;
}

/** `.popbull` holds one number: more than this is not one of ours. */
const SEEN_FILE_MAX_OCTETS = 64;

/**
 * The number in `.popbull`, read without waiting (a FIFO the owner put there fails at once) and
 * at most SEEN_FILE_MAX_OCTETS of it: the file is the user's, so it is never trusted to be small.
 */
function readSeen(maildir: string): number | undefined {
  try {
    const { fd } = openRegularFile(join(maildir, SEEN_FILE), "read");
    try {
      const n = Number(readHead(fd, SEEN_FILE_MAX_OCTETS).toString("latin1").trim());
      return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

/** A bulletin's bytes, or undefined when it is not a regular file or is over MAX_BULLETIN_OCTETS (checked before reading). */
function readBulletin(file: string): Buffer | undefined {
  let opened;
  try {
    opened = openRegularFile(file, "read");
  } catch {
    return undefined; // removed meanwhile, or not a file
  }
  try {
    if (opened.stat.size > MAX_BULLETIN_OCTETS) return undefined;
    return readHead(opened.fd, opened.stat.size);
  } finally {
    closeSync(opened.fd);
  }
}

function stripFromLine(bytes: Buffer): Buffer {
  if (bytes.subarray(0, 5).toString("latin1") !== "From ") return bytes;
  const lf = bytes.indexOf(0x0a);
  return lf < 0 ? Buffer.alloc(0) : bytes.subarray(lf + 1);
}

/** Delivers the bulletins this user has not seen; returns how many. Throws TempError when the Maildir cannot take them. */
export async function deliverBulletins(bulletinDir: string, maildir: string, maxForNewUsers: number, who: Membership): Promise<number> {
  const all = listBulletins(bulletinDir);
  if (all.length === 0) return 0;
  let groups: Map<string, { gid: number; members: string[] }> | undefined;
  let byName: boolean | undefined;
  const allowed = all.filter((b) => {
    if (b.group === undefined) return true;
    groups ??= groupMembers(who.groupFile ?? readFileSafe("/etc/group"));
    const g = groups.get(b.group);
    if (g === undefined) return false;
    if (who.gids.includes(g.gid)) return true;
    if (!g.members.includes(who.user)) return false;
    byName ??= who.nameIsAccount?.() ?? true;
    return byName;
  });
  const seen = readSeen(maildir);
  const newest = all[all.length - 1]!.number;
  const due = seen === undefined ? allowed.slice(Math.max(0, allowed.length - maxForNewUsers)) : allowed.filter((b) => b.number > seen);
  let delivered = 0;
  for (const b of due) {
    const bytes = readBulletin(b.file);
    if (bytes === undefined) continue;
    await maildirDeliver(maildir, new Uint8Array(stripFromLine(bytes)));
    delivered++;
  }
  if (seen === undefined || newest > seen) {
    const file = join(maildir, SEEN_FILE);
    try {
      // Durably replaced: a temporary file made exclusively (never through what is at its name), renamed over it.
      writeFileAtomic(maildir, SEEN_FILE, Buffer.from(`${newest}\n`, "latin1"));
    } catch (e) {
      throw new TempError(`unable to write ${file}: ${describeSysError(e)}`);
    }
  }
  return delivered;
}

function readFileSafe(file: string): string {
  try {
    return readFileSync(file, "latin1");
  } catch {
    return "";
  }
}
