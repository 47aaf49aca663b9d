/**
 * Dovecot's POP3 UIDLs of a Maildir, from its `dovecot-uidlist`, so that `poppin convert
 * dovecot` can write them into the Maildir's UIDL map (mod/maildir/uidl_map.ts) and clients
 * that leave mail on the server download nothing twice after the move from Dovecot.
 *
 * Dovecot (pop3-commands.c) shows a message's saved POP3 UIDL when it has one (the `P`
 * extension of its uidlist record, written when mail was migrated into Dovecot), else
 * `pop3_uidl_format` expanded for the message: `%u` its IMAP UID, `%v` the mailbox's
 * UIDVALIDITY, `%f` its file name up to ':' (qmail-pop3d's UIDL), `%g` its GUID (the `G`
 * extension, else the file name). Dovecot's default format is `%08Xu%08Xv`; its `X`
 * modifier writes lower-case hex.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "../base/posix_path.ts";
import { PermError, TempError, describeSysError } from "../base/errors.ts";
import { compileUidlFormat, DOVECOT_DEFAULT_UIDL_FORMAT } from "../pop3/dovecot_uidl_format.ts";
import { appendUidlMap, readUidlMap } from "../maildir/uidl_map.ts";

export { compileUidlFormat, DOVECOT_DEFAULT_UIDL_FORMAT } from "../pop3/dovecot_uidl_format.ts";

export interface UidlistRecord {
  readonly uid: number;
  /** The file name as Dovecot saw it, up to ':' (the flags): poppin's key for the message. */
  readonly name: string;
  /** One-letter extensions: P (saved POP3 UIDL), G (GUID), W, S ... */
  readonly ext: ReadonlyMap<string, string>;
}

export interface Uidlist {
  readonly version: number;
  readonly uidValidity: number;
  readonly records: readonly UidlistRecord[];
}

function number(text: string | undefined, what: string, lineNo: number): number {
  if (text === undefined || !/^\d{1,10}$/.test(text) || Number(text) > 0xffffffff) throw new PermError(`dovecot-uidlist line ${lineNo}: bad ${what}: ${JSON.stringify(text ?? "")}`);
  return Number(text);
}

/**
 * Parses a dovecot-uidlist: version 1 (`1 UIDVALIDITY NEXTUID`, then `UID NAME` lines) or
 * versions 2 and 3 (`3 V<uidvalidity> N<nextuid> ...`, then `UID [EXT...] :NAME` lines).
 * A torn last line (Dovecot rewrites the file by rename, but a copy may be cut) is left out.
 */
export function parseUidlist(text: string): Uidlist {
  const lines = text.split("\n");
  // The last element is "" after a final LF, else a line cut short: left out either way.
  const complete = lines.slice(0, -1);
  const header = (lines[0] ?? "").split(" ");
  const version = Number(header[0]);
  let uidValidity: number;
  if (version === 1) uidValidity = number(header[1], "UIDVALIDITY", 1);
  else if (version === 2 || version === 3) {
    const v = header.slice(1).find((f) => f.startsWith("V"));
    uidValidity = number(v?.slice(1), "UIDVALIDITY (V field)", 1);
  } else throw new PermError(`not a dovecot-uidlist: the first line is not a version 1, 2 or 3 header: ${JSON.stringify((lines[0] ?? "").slice(0, 40))}`);
  const records: UidlistRecord[] = [];
  for (let i = 1; i < complete.length; i++) {
    const line = complete[i]!;
    if (line === "") continue;
    const space = line.indexOf(" ");
    const uid = number(space < 0 ? line : line.slice(0, space), "UID", i + 1);
    const rest = space < 0 ? "" : line.slice(space + 1);
    const ext = new Map<string, string>();
    let name: string;
    if (version === 1) name = rest;
    else {
      const colon = rest.indexOf(":");
      if (colon < 0) throw new PermError(`dovecot-uidlist line ${i + 1}: no ':' before the file name`);
      for (const field of rest.slice(0, colon).split(" ")) if (field !== "") ext.set(field[0]!, field.slice(1));
      name = rest.slice(colon + 1);
    }
    // The uidlist names the file without its flags; a copy made while a name carried them is cut the same way.
    const info = name.indexOf(":");
    if (info >= 0) name = name.slice(0, info);
    if (name === "") throw new PermError(`dovecot-uidlist line ${i + 1}: no file name`);
    records.push({ uid, name, ext });
  }
  return { version, uidValidity, records };
}

/** The UIDL Dovecot's POP3 shows for each record: its saved one (`P`), else the format's. */
export function dovecotUidls(list: Uidlist, format: string = DOVECOT_DEFAULT_UIDL_FORMAT): Map<string, string> {
  const expand = compileUidlFormat(format);
  const out = new Map<string, string>();
  for (const r of list.records) {
    const saved = r.ext.get("P");
    out.set(r.name, saved !== undefined && saved !== "" ? saved : expand({ uid: r.uid, uidValidity: list.uidValidity, name: r.name, guid: r.ext.get("G") }));
  }
  return out;
}

export interface DovecotImport {
  /** Records in dovecot-uidlist. */
  listed: number;
  /** Messages of the Maildir (cur/ and new/). */
  messages: number;
  /** Map lines written now. */
  written: number;
  /** Listed messages whose UIDL the map already gave, or whose file name already is it. */
  alreadyThere: number;
  /** Messages the uidlist does not name (delivered after Dovecot's last look): they keep their file name's UIDL. */
  notListed: number;
}

/**
 * Writes into MAILDIR/poppin-uidls the UIDL Dovecot showed for each message of the Maildir
 * that its uidlist names (`uidlist`, default MAILDIR/dovecot-uidlist). Lines are only
 * appended (and fsynced), so running it again, or after a delivery, changes nothing already
 * mapped; the Maildir's messages are not touched.
 */
export function importDovecotUidls(maildir: string, opts: { format?: string; uidlist?: string } = {}): DovecotImport {
  const path = opts.uidlist ?? join(maildir, "dovecot-uidlist");
  let text: string;
  try {
    text = readFileSync(path, "latin1");
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ENOENT") throw new PermError(`unable to read ${path}: file does not exist (Dovecot keeps it in the Maildir unless mail_location sets CONTROL=; give that one with --uidlist=FILE)`);
    throw new TempError(`unable to read ${path}: ${describeSysError(e)}`);
  }
  const list = parseUidlist(text);
  const uidls = dovecotUidls(list, opts.format);
  const names: string[] = [];
  for (const sub of ["cur", "new"]) {
    try {
      for (const name of readdirSync(join(maildir, sub))) if (!name.startsWith(".")) names.push(name);
    } catch (e) {
      throw new TempError(`unable to read ${join(maildir, sub)}: ${describeSysError(e)} (not a Maildir?)`);
    }
  }
  const map = readUidlMap(maildir);
  const lines: [string, string][] = [];
  let alreadyThere = 0;
  let notListed = 0;
  for (const name of names) {
    const colon = name.indexOf(":");
    const unique = colon < 0 ? name : name.slice(0, colon);
    const uidl = uidls.get(unique);
    // A name with white space cannot be a key of the map's "UNIQUE UIDL" lines: pop3d shows its stand-in.
    if (uidl === undefined || /\s/.test(unique)) notListed++;
    else if ((map.get(unique) ?? unique) === uidl) alreadyThere++;
    else {
      lines.push([unique, uidl]);
      map.set(unique, uidl);
    }
  }
  appendUidlMap(maildir, lines);
  return { listed: list.records.length, messages: names.length, written: lines.length, alreadyThere, notListed };
}
