/**
 * Reloading a key only root can read, after serve dropped to -u/-g: before the switch serve
 * starts `poppin serve --key-reader CERTFILE [KEYFILE]`, which stays root, does nothing
 * but read those two fixed files when serve asks (one byte on its stdin, at SIGHUP) and
 * answer with their bytes on its stdout, and exits when serve closes its stdin. It is
 * non-dumpable, as it holds the key. Answer: u8 status (0: the material, 1: why not),
 * u32 length (little-endian), then that many octets.
 */
import { readSync } from "node:fs";
import type { Subprocess } from "bun";
import { describeSysError } from "../base/errors.ts";
import { writeAll, writeStderr } from "../base/io.ts";
import { makeUndumpable } from "../sys/dumpable.ts";
import { MAX_MATERIAL_OCTETS, readMaterial } from "./key_material.ts";

export const KEY_READER_FLAG = "--key-reader";
const HEADER = 5;

function answer(status: number, body: Uint8Array): void {
  const out = new Uint8Array(HEADER + body.length);
  const view = new DataView(out.buffer);
  view.setUint8(0, status);
  view.setUint32(1, body.length, true);
  out.set(body, HEADER);
  writeAll(1, out);
}

/** The helper's main: `args` are CERTFILE and, optionally, KEYFILE. */
export function runKeyReader(args: readonly string[]): number {
  try {
    makeUndumpable();
  } catch (e) {
    writeStderr(`poppin serve: fatal: key reader: unable to make itself non-dumpable: ${describeSysError(e)}\n`);
    return 111;
  }
  const [certFile, keyFile] = args;
  if (certFile === undefined) return 100;
  const request = new Uint8Array(1);
  for (;;) {
    let n: number;
    try {
      n = readSync(0, request, 0, 1, null);
    } catch (e) {
      if ((e as { code?: string }).code === "EINTR" || (e as { code?: string }).code === "EAGAIN") continue;
      return 111;
    }
    if (n === 0) return 0;
    try {
      const material = readMaterial({ certFile, keyFile });
      if (material.length > MAX_MATERIAL_OCTETS) answer(1, Buffer.from(`${certFile}: more than ${MAX_MATERIAL_OCTETS} octets`));
      else answer(0, material);
      material.fill(0);
    } catch (e) {
      answer(1, Buffer.from((e as Error).message));
    }
  }
}

/** serve's side: one request at a time (a SIGHUP while one runs waits for it). */
export class KeyReader {
  #queue: Promise<unknown> = Promise.resolve();
  #pending: Uint8Array = new Uint8Array(0);
  readonly #reader: { read(): Promise<{ done: boolean; value?: Uint8Array }> };

  private constructor(private readonly proc: Subprocess<"pipe", "pipe", "inherit">) {
    this.#reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  }

  /** Starts the helper with our present (root) rights. */
  static start(execPath: string, certFile: string, keyFile: string | undefined): KeyReader {
    const proc = Bun.spawn([execPath, "serve", KEY_READER_FLAG, certFile, ...(keyFile === undefined ? [] : [keyFile])], {
      argv0: "poppin", // the applet by name, whatever the path (/proc/self/exe)
      stdin: "pipe", stdout: "pipe", stderr: "inherit", env: { PATH: "/usr/bin:/bin" },
    });
    proc.unref();
    return new KeyReader(proc);
  }

  /** The files' bytes as root reads them now; throws Error with the helper's reason. */
  read(): Promise<Buffer> {
    const next = this.#queue.then(() => this.#ask());
    this.#queue = next.catch(() => {});
    return next;
  }

  async #need(n: number): Promise<Uint8Array> {
    while (this.#pending.length < n) {
      const { done, value } = await this.#reader.read();
      if (done || value === undefined) throw new Error("the key reader ended");
      this.#pending = this.#pending.length === 0 ? value : Buffer.concat([this.#pending, value]);
    }
    const out = this.#pending.subarray(0, n);
    this.#pending = this.#pending.subarray(n);
    return out;
  }

  async #ask(): Promise<Buffer> {
    this.proc.stdin.write(new Uint8Array([0x52]));
    this.proc.stdin.flush();
    const header = await this.#need(HEADER);
    const view = new DataView(header.buffer, header.byteOffset, HEADER);
    const status = view.getUint8(0);
    const length = view.getUint32(1, true);
    if (length > MAX_MATERIAL_OCTETS) throw new Error("the key reader answered out of bounds");
    const body = Buffer.from(await this.#need(length));
    if (status !== 0) throw new Error(body.toString("utf8"));
    return body;
  }

  close(): void {
    try {
      this.proc.stdin.end();
    } catch {
      // gone already
    }
  }
}
