/** Runs checkpassword as a process with the fd-3 pipe qmail-popup gives it. */
import { spawn } from "node:child_process";
import { execFileSync } from "node:child_process";
import { applet } from "../helpers.ts";

export interface CheckpasswordRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CheckpasswordOptions {
  env?: Record<string, string>;
  /** Leave fd 3 closed (the caller forgot it). */
  noFd3?: boolean;
  /** Run as this uid/gid (the test is root). */
  uid?: number;
  gid?: number;
  cwd?: string;
  timeoutMs?: number;
  /** An open fd the caller passes as fd 5 (djb's checkpassword hands inherited fds to PROG). */
  fd5?: number;
}

export const BASE_ENV = { PATH: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin" };

/** checkpassword PROG... with `data` written to its fd 3, then fd 3 closed. */
export function runCheckpassword(data: Uint8Array | string, prog: string[], opts: CheckpasswordOptions = {}): Promise<CheckpasswordRun> {
  const child = spawn(applet("checkpassword"), prog, {
    stdio: opts.noFd3 ? ["ignore", "pipe", "pipe"] : opts.fd5 !== undefined ? ["ignore", "pipe", "pipe", "pipe", "ignore", opts.fd5] : ["ignore", "pipe", "pipe", "pipe"],
    env: { ...BASE_ENV, ...opts.env },
    uid: opts.uid,
    gid: opts.gid,
    cwd: opts.cwd ?? "/",
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => { stdout += d.toString("latin1"); });
  child.stderr!.on("data", (d) => { stderr += d.toString("latin1"); });
  if (!opts.noFd3) {
    const fd3 = child.stdio[3] as NodeJS.WritableStream;
    fd3.on("error", () => { /* the child may exit before reading */ });
    fd3.end(typeof data === "string" ? Buffer.from(data, "latin1") : Buffer.from(data));
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`checkpassword ${prog.join(" ")} did not finish`));
    }, opts.timeoutMs ?? 20_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** `login\0password\0timestamp\0` as popup sends it. */
export function request(login: string, password: string, timestamp = ""): string {
  return `${login}\0${password}\0${timestamp}\0`;
}

/** Runs a system administration command (useradd, chpasswd ...) and fails loudly. */
export function admin(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { input, encoding: "utf8", env: BASE_ENV, stdio: ["pipe", "pipe", "pipe"] });
}
