/**
 * envdir's reading of a directory (daemontools 0.76): every file whose name does not
 * start with a dot sets a variable to its first line, trailing blanks and tabs removed
 * and NULs turned into newlines; an empty file removes the variable.
 */
import { closeSync, openSync, readdirSync, readSync } from "node:fs";
import { join } from "node:path";

/** What could not be read, and the system error: the applet words the message. */
export class EnvdirError extends Error {
  constructor(readonly what: "directory" | "file", readonly path: string, readonly cause: unknown) {
    super(`unable to read ${path}`);
  }
}

/** Bound on one file: only its first line counts, and environments are small. */
const MAX_FILE = 1 << 20;

function readBounded(path: string): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    // openreadclose: a file that vanished reads as empty.
    if ((err as { code?: string }).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.alloc(4096);
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      total += n;
      if (buf.subarray(0, n).includes(0x0a) || total >= MAX_FILE) break;
    }
    return Buffer.concat(chunks);
  } finally {
    closeSync(fd);
  }
}

/** The value a file gives: first line, trailing spaces/tabs cut, NUL -> newline. */
export function envdirValue(content: Buffer): string {
  let end = content.indexOf(0x0a);
  if (end < 0) end = content.length;
  while (end > 0 && (content[end - 1] === 0x20 || content[end - 1] === 0x09)) end--;
  const line = Buffer.from(content.subarray(0, end));
  for (let i = 0; i < line.length; i++) if (line[i] === 0) line[i] = 0x0a;
  return line.toString("utf8");
}

/** Changes from directory `dir`: name -> value, or undefined to remove. Throws EnvdirError. */
export function readEnvdir(dir: string, label?: string): Map<string, string | undefined> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    throw new EnvdirError("directory", label ?? dir, err);
  }
  const changes = new Map<string, string | undefined>();
  for (const name of names) {
    if (name.startsWith(".")) continue;
    let content: Buffer | undefined;
    try {
      content = readBounded(join(dir, name));
    } catch (err) {
      throw new EnvdirError("file", `${label ?? dir}/${name}`, err);
    }
    changes.set(name, content === undefined || content.length === 0 ? undefined : envdirValue(content));
  }
  return changes;
}
