/**
 * A mailbox whose messages carry an identity header, for the fault tests: a virtual user (a
 * userdb entry) or a system user (a real account: useradd, a sha512 hash in /etc/shadow,
 * ~/Maildir its own); deliver, list what is on disk, and drive the classic chain
 * (qmail-popup HOST checkpassword qmail-pop3d Maildir) over pipes, every wait bounded.
 */
import { chownSync, mkdirSync, readdirSync, readFileSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { connect } from "node:net";
import { randomBytes } from "node:crypto";
import { applet, run, runAccountTool } from "../helpers.ts";

export const LOGIN = "fault";
export const PASSWORD = "Fault-Pass-7c1e";

/** "virtual": an entry of a poppin user database; "system": an account in /etc/passwd and /etc/shadow. */
export type UserKind = "virtual" | "system";

export interface FaultBox {
  kind: UserKind;
  login: string;
  password: string;
  home: string;
  maildir: string;
  /** The user database (virtual users only). */
  userdb?: string;
  uid: number;
  gid: number;
}

/**
 * A home with a Maildir, and its user: a userdb entry (virtual) or an account made with
 * useradd (system, root only). Both with a sha512 hash, not yescrypt: the harness logs in
 * thousands of times. A system user is removed by removeFaultBox.
 */
export function makeFaultBox(root: string, kind: UserKind = "virtual"): FaultBox {
  chmodSync(root, 0o755);
  const home = join(root, "home");
  mkdirSync(home);
  const maildir = join(home, "Maildir");
  const made = run([applet("maildirmake"), maildir]);
  if (made.code !== 0) throw new Error(`maildirmake: ${made.stderr}`);
  let box: FaultBox;
  if (kind === "system") {
    if (process.getuid!() !== 0) throw new Error("system users need root (useradd)");
    const login = `pfk${randomBytes(4).toString("hex")}`;
    const password = `Sys-${randomBytes(6).toString("hex")}`;
    mustRun(["useradd", "-M", "-d", home, "-s", "/usr/sbin/nologin", "-U", login], "useradd");
    try {
      mustRun(["chpasswd", "-c", "SHA512"], "chpasswd", `${login}:${password}\n`);
    } catch (e) {
      Bun.spawnSync(["userdel", "-f", login]);
      throw e;
    }
    const id = (flag: string) => Number(run(["id", flag, login]).out.trim());
    box = { kind, login, password, home, maildir, uid: id("-u"), gid: id("-g") };
  } else {
    const uid = process.getuid!() === 0 ? 23456 : process.getuid!();
    const userdb = join(root, "users");
    const added = run([applet("users"), "-f", userdb, "add", "--sha512", LOGIN, String(uid), String(uid), home], { stdin: `${PASSWORD}\n` });
    if (added.code !== 0) throw new Error(`users add: ${added.stderr}`);
    box = { kind, login: LOGIN, password: PASSWORD, home, maildir, userdb: `${userdb}.cdb`, uid, gid: uid };
    // Readable by the mail uid too, for a serve or chain that runs as it (-u).
    if (process.getuid!() === 0) {
      chownSync(box.userdb!, 0, uid);
      chmodSync(box.userdb!, 0o640);
    }
  }
  chownBox(box);
  return box;
}

/** Removes a system user's account (its files go with the temporary directory). */
export function removeFaultBox(box: FaultBox): void {
  if (box.kind === "system") Bun.spawnSync(["userdel", "-f", box.login]);
}

const mustRun = runAccountTool;

export function chownBox(box: FaultBox): void {
  if (process.getuid!() !== 0) return;
  const walk = (dir: string) => {
    chownSync(dir, box.uid, box.gid);
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else chownSync(join(dir, e.name), box.uid, box.gid);
    }
  };
  walk(box.home);
}

/** Delivers a message identified by `id` (its X-Fault-Id header); returns deliver's exit code. */
export function deliverId(box: FaultBox, id: string, extra = ""): number {
  const body = `X-Fault-Id: ${id}\nSubject: message ${id}\n\n${extra}line one\n.starts with a dot\nlast line ${id}\n`;
  return run([applet("deliver"), box.maildir], { stdin: body }).code;
}

/** Identity of every message file on disk (new/ and cur/), one entry per file. */
export function idsOnDisk(box: FaultBox): { id: string; path: string }[] {
  const out: { id: string; path: string }[] = [];
  for (const sub of ["new", "cur"]) {
    for (const name of readdirSync(join(box.maildir, sub))) {
      if (name.startsWith(".")) continue;
      const path = join(box.maildir, sub, name);
      let text: string;
      try {
        text = readFileSync(path, "latin1");
      } catch {
        continue; // removed meanwhile
      }
      const m = /^X-Fault-Id: (\S+)/m.exec(text);
      out.push({ id: m ? m[1]! : `?${name}`, path });
    }
  }
  return out;
}

/** The file name (UIDL is its part before ':') -> identity, from the files on disk. */
export function idByUidl(box: FaultBox): Map<string, string> {
  const map = new Map<string, string>();
  for (const { id, path } of idsOnDisk(box)) map.set(path.slice(path.lastIndexOf("/") + 1).split(":")[0]!, id);
  return map;
}

/** A POP3 conversation with a spawned chain over pipes. */
export class PipeClient {
  readonly proc: ReturnType<typeof Bun.spawn>;
  #text = "";
  #ended = false;
  #wake: (() => void) | undefined;
  readonly stderr: Promise<string>;

  constructor(cmd: string[], env: Record<string, string>, cwd: string) {
    this.proc = Bun.spawn(cmd, { env, cwd, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    this.stderr = new Response(this.proc.stderr as ReadableStream).text();
    void this.#pump();
  }

  async #pump(): Promise<void> {
    const reader = (this.proc.stdout as ReadableStream<Uint8Array>).getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        this.#text += Buffer.from(value).toString("latin1");
        this.#wake?.();
      }
    } catch {
      // the pipe broke: same as the end
    }
    this.#ended = true;
    this.#wake?.();
  }

  get text(): string {
    return this.#text;
  }

  get ended(): boolean {
    return this.#ended;
  }

  send(line: string): boolean {
    try {
      (this.proc.stdin as import("bun").FileSink).write(`${line}\r\n`);
      (this.proc.stdin as import("bun").FileSink).flush();
      return true;
    } catch {
      return false;
    }
  }

  closeInput(): void {
    try {
      (this.proc.stdin as import("bun").FileSink).end();
    } catch {
      // already gone
    }
  }

  /** Waits until the text from `from` on matches `pattern`; null when the chain ended first or time ran out. */
  async waitFrom(from: number, pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = pattern.exec(this.#text.slice(from));
      if (m) return m;
      if (this.#ended) return null;
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
}

/** Every process below `pid` (children, grandchildren), from /proc. */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  const visit = (p: number) => {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      return;
    }
    for (const t of tasks) {
      let children = "";
      try {
        children = readFileSync(`/proc/${p}/task/${t}/children`, "latin1");
      } catch {
        continue;
      }
      for (const c of children.trim().split(/\s+/).filter(Boolean)) {
        out.push(Number(c));
        visit(Number(c));
      }
    }
  };
  visit(pid);
  return out;
}

/** Whether `pid` still runs (a zombie whose parent has not reaped it yet counts as ended). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** The same conversation over TCP (serve --inline). */
export class SocketClient {
  #text = "";
  #ended = false;
  #wake: (() => void) | undefined;
  /** The far end closed (FIN or reset). */
  #farEnd = false;
  readonly #socket: import("node:net").Socket;

  private constructor(socket: import("node:net").Socket) {
    this.#socket = socket;
    socket.on("data", (d: Buffer) => {
      this.#text += d.toString("latin1");
      this.#wake?.();
    });
    const end = () => {
      this.#ended = true;
      this.#wake?.();
    };
    socket.on("end", () => {
      this.#farEnd = true;
      end();
    });
    socket.on("close", end);
    socket.on("error", () => {
      this.#farEnd = true; // a reset: the far end is gone too
      end();
    });
  }

  static connect(port: number, timeoutMs = 10_000): Promise<SocketClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: "127.0.0.1", port });
      const timer = setTimeout(() => { socket.destroy(); reject(new Error("connect timed out")); }, timeoutMs);
      socket.once("connect", () => { clearTimeout(timer); resolve(new SocketClient(socket)); });
      socket.once("error", (e) => { clearTimeout(timer); reject(e); });
    });
  }

  get text(): string {
    return this.#text;
  }

  get ended(): boolean {
    return this.#ended;
  }

  send(line: string): boolean {
    if (this.#ended) return false;
    this.#socket.write(`${line}\r\n`);
    return true;
  }

  closeInput(): void {
    this.#socket.end();
    setTimeout(() => this.#socket.destroy(), 6_000).unref(); // after waitClosed's 5 s
  }

  /** Waits until the far end closed the connection too; false when `timeoutMs` passed first. */
  async waitClosed(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#farEnd && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.#farEnd;
  }

  waitFrom(from: number, pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray | null> {
    return waitOn(this, () => this.#text, () => this.#ended, (w) => (this.#wake = w), from, pattern, timeoutMs);
  }
}

async function waitOn(_: unknown, text: () => string, ended: () => boolean, setWake: (w: () => void) => void, from: number, pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = pattern.exec(text().slice(from));
    if (m) return m;
    if (ended()) return null;
    const left = deadline - Date.now();
    if (left <= 0) return null;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, left);
      setWake(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
