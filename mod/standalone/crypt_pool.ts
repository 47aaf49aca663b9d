/**
 * libcrypt off the event loop: a pool of Bun Workers, one per core by default, each
 * calling crypt_r through bun:ffi. A yescrypt check costs about 25 ms of CPU, so on the
 * main thread a few logins would stall every session the process holds.
 *
 * The worker is built from source text (a Blob URL) rather than a file, so the compiled
 * binary needs no second entry point; it uses nothing but bun:ffi and libcrypt.so.1,
 * exactly as mod/sys/crypt.ts does on the main thread.
 */
import { availableParallelism } from "node:os";

const WORKER_SOURCE = `
import { dlopen, CString } from "bun:ffi";
let lib;
self.onmessage = (event) => {
  const { id, password, setting } = event.data;
  let hash = null;
  let error = null;
  const data = new Uint8Array(32768);
  const pw = new Uint8Array(password.length + 1);
  pw.set(password);
  password.fill(0);
  try {
    lib ??= dlopen("libcrypt.so.1", { crypt_r: { args: ["ptr", "ptr", "ptr"], returns: "ptr" } });
    const s = new TextEncoder().encode(setting + "\\0");
    const result = lib.symbols.crypt_r(pw, s, data);
    if (result !== null) {
      const text = new CString(result).toString();
      if (text.length > 0 && !text.startsWith("*")) hash = text;
    }
  } catch (e) {
    error = String(e && e.message || e);
  } finally {
    pw.fill(0);
    data.fill(0);
  }
  postMessage({ id, hash, error });
};
`;

interface Job {
  id: number;
  password: Uint8Array;
  setting: string;
  resolve(hash: string | undefined): void;
  reject(err: Error): void;
}

interface Slot {
  worker: Worker;
  job: Job | undefined;
}

export class CryptPool {
  readonly #slots: Slot[] = [];
  readonly #queue: Job[] = [];
  #nextId = 1;
  #url: string;
  /** Checks waiting or running, for the status line. */
  get pending(): number {
    return this.#queue.length + this.#slots.filter((s) => s.job).length;
  }

  constructor(size = availableParallelism()) {
    this.#url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "application/javascript" }));
    for (let i = 0; i < Math.max(1, size); i++) this.#slots.push(this.#spawn());
  }

  get size(): number {
    return this.#slots.length;
  }

  #spawn(): Slot {
    const worker = new Worker(this.#url);
    const slot: Slot = { worker, job: undefined };
    worker.onmessage = (event: MessageEvent<{ id: number; hash: string | null; error: string | null }>) => {
      const job = slot.job;
      slot.job = undefined;
      if (job && job.id === event.data.id) {
        if (event.data.error !== null) job.reject(new Error(`crypt_r failed: ${event.data.error}`));
        else job.resolve(event.data.hash ?? undefined);
      }
      this.#dispatch();
    };
    worker.onerror = (event) => {
      const job = slot.job;
      slot.job = undefined;
      job?.reject(new Error(`crypt worker failed: ${event.message}`));
      // Replace the broken worker so the pool keeps its size.
      const index = this.#slots.indexOf(slot);
      worker.terminate();
      if (index >= 0) this.#slots[index] = this.#spawn();
      this.#dispatch();
    };
    (worker as unknown as { unref?: () => void }).unref?.();
    return slot;
  }

  #dispatch(): void {
    for (const slot of this.#slots) {
      if (slot.job || this.#queue.length === 0) continue;
      const job = this.#queue.shift()!;
      slot.job = job;
      // The password is copied into the message (structured clone) and wiped here.
      slot.worker.postMessage({ id: job.id, password: job.password, setting: job.setting });
      job.password.fill(0);
    }
  }

  /** crypt_r(password, setting) on a worker: the hash, or undefined when libcrypt refuses the setting. */
  crypt(password: Uint8Array, setting: string): Promise<string | undefined> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ id: this.#nextId++, password: password.slice(), setting, resolve, reject });
      this.#dispatch();
    });
  }

  close(): void {
    for (const slot of this.#slots) {
      slot.job?.reject(new Error("crypt pool closed"));
      slot.worker.terminate();
    }
    for (const job of this.#queue.splice(0)) job.reject(new Error("crypt pool closed"));
    this.#slots.length = 0;
    URL.revokeObjectURL(this.#url);
  }
}
