/**
 * serve's own descriptors against RLIMIT_NOFILE. Bun's accept loop neither reports EMFILE nor
 * backs off: at the limit the listening socket stays readable and the event loop spins at a
 * full core until a descriptor is freed. tcpserver holds one descriptor per child at most for
 * a moment; serve --inline holds every connection (and a finished one until its close is seen),
 * so it stops accepting while close to the limit (the kernel's backlog keeps the clients waiting,
 * as at the -c limit) and accepts again once enough descriptors are free: sessions being served
 * keep room for their Maildir files, pipes and mail workers.
 */
import { readdirSync } from "node:fs";
import { getrlimit, RLIMIT } from "../daemontools/exec_ffi.ts";

/** Descriptors kept free for the sessions themselves: an eighth of the limit, between 8 and 64. */
export function descriptorReserve(limit: number): number {
  return Math.max(8, Math.min(64, Math.floor(limit / 8)));
}

/** The soft RLIMIT_NOFILE of this process (a very large or unlimited one as 2^30). */
export function descriptorLimit(): number {
  try {
    const { soft } = getrlimit(RLIMIT.NOFILE);
    return soft > 1n << 30n ? 1 << 30 : Number(soft);
  } catch {
    return 1 << 30;
  }
}

/** Descriptors open in this process now (undefined without /proc). */
export function openDescriptors(): number | undefined {
  try {
    return readdirSync("/proc/self/fd").length - 1; // readdir's own descriptor
  } catch {
    return undefined;
  }
}

export class DescriptorBudget {
  readonly reserve: number;
  constructor(readonly limit: number = descriptorLimit()) {
    this.reserve = descriptorReserve(limit);
  }

  /**
   * Whether an accepted connection's descriptor says serve is close to its limit: the kernel
   * hands out the lowest free number, so descriptor `fd` means `fd` + 1 are open at least.
   */
  tight(fd: number): boolean {
    return fd >= this.limit - this.reserve;
  }

  /** Whether accepting may start again: twice the reserve is free (no flapping at the edge). */
  roomAgain(): boolean {
    const open = openDescriptors();
    return open === undefined || open < this.limit - 2 * this.reserve;
  }
}
