/**
 * libcrypt off the event loop: a pool of helper processes (`poppin serve --crypt-helper`,
 * mod/standalone/crypt_helper.ts), one per core by default, each running crypt_r. A
 * yescrypt check costs about 25 ms of CPU, so on the main thread a few logins would stall
 * every session the process holds. Helpers start on the first check, with serve's own uid
 * (after -u, that uid; as root, root): passwords and hashes pass through them, so they must
 * share a uid with no process that is not already trusted with those (nobody, shared by
 * many daemons, could read them). Each makes itself non-dumpable before it reads anything
 * (crypt_helper.ts). A helper that dies is replaced, and takes no check with it: the check it
 * was given (running, or sent to it after it died but before its end was seen) goes to the
 * new helper, once; a second helper's death fails it, so an input that kills helpers cannot loop.
 */
import type { Subprocess } from "bun";
import { availableParallelism } from "node:os";
import { ANSWER_HEADER, CRYPT_HELPER_FLAG, MAX_FIELD, REFUSED, REQUEST_HEADER } from "./crypt_helper.ts";

/** How many helpers one check may be given (a death before its answer hands it to the next). */
const MAX_TRIES = 2;

interface Job {
  id: number;
  /** Kept (serve's own memory) until the check is answered, for a retry; zeroed then. */
  password: Uint8Array;
  tries: number;
  setting: string;
  resolve(hash: string | undefined): void;
  reject(err: Error): void;
}

interface Slot {
  proc: Subprocess<"pipe", "pipe", "inherit"> | undefined;
  job: Job | undefined;
}

export class CryptPool {
  readonly #slots: Slot[] = [];
  readonly #queue: Job[] = [];
  #nextId = 1;
  #closed = false;

  /** `execPath`: the poppin binary (helpers run as `execPath serve --crypt-helper`). */
  constructor(private readonly execPath: string, size = availableParallelism()) {
    for (let i = 0; i < Math.max(1, size); i++) this.#slots.push({ proc: undefined, job: undefined });
  }

  /** Checks waiting or running, for the status line. */
  get pending(): number {
    return this.#queue.length + this.#slots.filter((s) => s.job).length;
  }

  get size(): number {
    return this.#slots.length;
  }

  /** The helpers running now. */
  get pids(): number[] {
    return this.#slots.flatMap((s) => (s.proc ? [s.proc.pid] : []));
  }

  #spawn(slot: Slot): NonNullable<Slot["proc"]> {
    const proc = Bun.spawn([this.execPath, "serve", CRYPT_HELPER_FLAG], {
      argv0: "poppin", // the applet by name, whatever the path (/proc/self/exe)
      stdin: "pipe", stdout: "pipe", stderr: "inherit",
      env: { PATH: "/usr/bin:/bin" },
    });
    proc.unref();
    slot.proc = proc;
    void this.#read(slot, proc);
    return proc;
  }

  /** Answers from one helper, until it exits; then its check (if any) fails and the slot is free for a new helper. */
  async #read(slot: Slot, proc: NonNullable<Slot["proc"]>): Promise<void> {
    let pending: Uint8Array = new Uint8Array(0);
    try {
      for await (const chunk of proc.stdout as unknown as AsyncIterable<Uint8Array>) {
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        while (pending.length >= ANSWER_HEADER) {
          const view = new DataView(pending.buffer, pending.byteOffset, pending.length);
          const length = view.getUint16(4, true);
          const hashLength = length === REFUSED ? 0 : length;
          if (pending.length < ANSWER_HEADER + hashLength) break;
          const id = view.getUint32(0, true);
          const hash = length === REFUSED ? undefined : Buffer.from(pending.subarray(ANSWER_HEADER, ANSWER_HEADER + hashLength)).toString("latin1");
          pending = pending.subarray(ANSWER_HEADER + hashLength);
          const job = slot.job;
          slot.job = undefined;
          job?.password.fill(0);
          if (job?.id === id) job.resolve(hash);
          else job?.reject(new Error("crypt helper answered out of turn"));
          this.#dispatch();
        }
      }
    } catch {
      // the pipe broke: as an exit
    }
    await proc.exited;
    if (slot.proc === proc) slot.proc = undefined;
    const job = slot.job;
    slot.job = undefined;
    if (job !== undefined) {
      if (job.tries < MAX_TRIES && !this.#closed) {
        this.#queue.unshift(job);
      } else {
        job.password.fill(0);
        job.reject(new Error(`crypt helper ${proc.pid} ended (${proc.signalCode ?? `exit ${proc.exitCode}`})`));
      }
    }
    if (!this.#closed) this.#dispatch();
  }

  #dispatch(): void {
    for (const slot of this.#slots) {
      if (slot.job || this.#queue.length === 0) continue;
      const job = this.#queue.shift()!;
      let proc;
      try {
        proc = slot.proc ?? this.#spawn(slot);
      } catch (err) {
        job.password.fill(0);
        job.reject(new Error(`unable to start a crypt helper: ${(err as Error).message}`));
        continue;
      }
      slot.job = job;
      job.tries++;
      const setting = Buffer.from(job.setting, "latin1");
      const request = new Uint8Array(REQUEST_HEADER + job.password.length + setting.length);
      const view = new DataView(request.buffer);
      view.setUint32(0, job.id, true);
      view.setUint16(4, job.password.length, true);
      view.setUint16(6, setting.length, true);
      request.set(job.password, REQUEST_HEADER);
      request.set(setting, REQUEST_HEADER + job.password.length);
      try {
        proc.stdin.write(request);
        proc.stdin.flush();
      } catch {
        // the helper is gone: #read fails the job and a new helper takes the next one
      } finally {
        request.fill(0);
      }
    }
  }

  /** crypt_r(password, setting) in a helper: the hash, or undefined when libcrypt refuses the setting. */
  crypt(password: Uint8Array, setting: string): Promise<string | undefined> {
    if (this.#closed) return Promise.reject(new Error("crypt pool closed"));
    if (password.length > MAX_FIELD || setting.length > MAX_FIELD) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      this.#queue.push({ id: this.#nextId++, password: password.slice(), tries: 0, setting, resolve, reject });
      this.#dispatch();
    });
  }

  close(): void {
    this.#closed = true;
    for (const job of this.#queue.splice(0)) {
      job.password.fill(0);
      job.reject(new Error("crypt pool closed"));
    }
    for (const slot of this.#slots) {
      try {
        slot.proc?.stdin.end();
      } catch {
        // already gone
      }
      slot.proc?.kill();
    }
  }
}
