/**
 * yescrypt's 16 MiB scratch region kept between checks, for processes that check many
 * passwords (serve --inline's crypt helpers). libxcrypt maps the region with mmap(2) at the
 * start of every yescrypt check and unmaps it at the end, so every check first takes about
 * 4,100 page faults to get fresh zeroed pages from the kernel: on a 2-core virtual machine
 * that was 5-7 ms of a 14-15 ms check, all of it in the kernel. Here libcrypt's own calls
 * to mmap and munmap (its GOT entries, nothing else in the process) go through two small
 * functions: an munmap of a large anonymous mapping that libcrypt made keeps it instead,
 * and libcrypt's next mmap of the same size and kind gets it back. yescrypt writes the
 * whole region before it reads any of it, so a kept region changes no hash (the tests
 * compare every scheme with and without).
 *
 * Only one region is kept (the last one unmapped, of 8 to 64 MiB), and only libcrypt's calls are redirected. Anything unexpected
 * (another architecture, a libcrypt without these relocations, a GOT entry that does not
 * hold libc's function) leaves libcrypt as it was: keepYescryptRegion() returns false and
 * checks run as before. The kept region holds the last check's yescrypt state until the
 * next check overwrites it, in a process that is non-dumpable and only ever handles
 * passwords (crypt_helper.ts), as the pages unmapped before stayed in free memory until reused.
 */
import { JSCallback, dlopen, read, toArrayBuffer, type Pointer } from "bun:ffi";
import { readFileSync } from "node:fs";
import { openUnderLimits } from "./memory_limit.ts";

/** Mappings at least this large are kept (yescrypt's default region is 16 MiB; libcrypt maps nothing else this big). */
const KEEP_AT_LEAST = 8 << 20;
/**
 * ... and at most this large: a hash with a high cost (a 128 MiB, 1 GiB or larger region) is
 * unmapped as before, so one such hash in the user database neither pins its region in the
 * helper for the life of the process nor takes the kept region's place from the usual ones.
 */
const KEEP_AT_MOST = 64 << 20;

const RTLD_NOW = 2;
const RTLD_DI_LINKMAP = 2;
const DT_NULL = 0, DT_PLTRELSZ = 2, DT_STRTAB = 5, DT_SYMTAB = 6, DT_RELA = 7, DT_RELASZ = 8, DT_JMPREL = 23;
/** GLOB_DAT and JUMP_SLOT relocations: the GOT entries a library's calls go through. */
const GOT_RELOCATIONS: Record<string, readonly number[]> = { x64: [6, 7], arm64: [1025, 1026] };
const PROT: Record<string, number> = { r: 1, w: 2, x: 4 };

function openLibc() {
  return openUnderLimits(() => dlopen("libc.so.6", {
    dlopen: { args: ["ptr", "i32"], returns: "ptr" },
    dlinfo: { args: ["ptr", "i32", "ptr"], returns: "i32" },
    dlsym: { args: ["ptr", "ptr"], returns: "i64" },
    mprotect: { args: ["ptr", "u64", "i32"], returns: "i32" },
    mmap: { args: ["ptr", "u64", "i32", "i32", "i32", "i64"], returns: "i64" },
    munmap: { args: ["ptr", "u64"], returns: "i32" },
    getpagesize: { args: [], returns: "i32" },
  })).symbols;
}

interface Mapping {
  addr: number;
  length: number;
  prot: number;
  flags: number;
}

/** How often a kept region served a check (for tests and curiosity). */
export const regionFigures = { kept: 0, reused: 0 };

let installed: boolean | undefined;
/** The two functions libcrypt now calls; referenced here for the life of the process (freeing them would leave libcrypt calling freed code). */
const hooks: JSCallback[] = [];

function cString(at: number): string {
  let s = "";
  for (let i = 0; i < 64; i++) {
    const c = read.u8(at as Pointer, i);
    if (c === 0) break;
    s += String.fromCharCode(c);
  }
  return s;
}

/** The protection ("r--p" ...) of the mapping holding `addr`, from /proc/self/maps. */
function protectionAt(addr: number): number | undefined {
  for (const line of readFileSync("/proc/self/maps", "latin1").split("\n")) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) ([rwxp-]{4})/.exec(line);
    if (m === null) continue;
    if (addr >= parseInt(m[1]!, 16) && addr < parseInt(m[2]!, 16)) {
      return [...m[3]!.slice(0, 3)].reduce((p, c) => p | (PROT[c] ?? 0), 0);
    }
  }
  return undefined;
}

/**
 * libcrypt's GOT entries for mmap and munmap (their addresses in memory), found through
 * its dynamic section; undefined unless both are there.
 */
function libcryptSlots(libc: ReturnType<typeof openLibc>, relocations: readonly number[]): { mmap: number; munmap: number } | undefined {
  const handle = libc.dlopen(Buffer.from("libcrypt.so.1\0"), RTLD_NOW);
  if (handle === null) return undefined;
  const linkMap = new BigUint64Array(1);
  if (libc.dlinfo(handle, RTLD_DI_LINKMAP, linkMap) !== 0 || linkMap[0] === 0n) return undefined;
  const lm = Number(linkMap[0]) as Pointer;
  const base = read.u64(lm, 0); // struct link_map: l_addr, l_name, l_ld
  const dynamic = Number(read.u64(lm, 16)) as Pointer;
  const tags = new Map<number, bigint>();
  for (let off = 0; off < 16 * 200; off += 16) {
    const tag = Number(read.i64(dynamic, off));
    if (tag === DT_NULL) break;
    tags.set(tag, read.u64(dynamic, off + 8));
  }
  // glibc relocates the dynamic section's addresses in place; an unrelocated one is an offset.
  const address = (tag: number) => {
    const v = tags.get(tag);
    return v === undefined ? undefined : Number(v < base ? v + base : v);
  };
  const strtab = address(DT_STRTAB);
  const symtab = address(DT_SYMTAB);
  if (strtab === undefined || symtab === undefined) return undefined;
  const found = new Map<string, number>();
  for (const [table, size] of [[DT_JMPREL, DT_PLTRELSZ], [DT_RELA, DT_RELASZ]] as const) {
    const at = address(table);
    const octets = Number(tags.get(size) ?? 0n);
    if (at === undefined) continue;
    for (let off = 0; off + 24 <= octets; off += 24) { // Elf64_Rela: r_offset, r_info, r_addend
      const info = read.u64(at as Pointer, off + 8);
      if (!relocations.includes(Number(info & 0xffffffffn))) continue;
      const name = cString(strtab + read.u32(symtab as Pointer, Number(info >> 32n) * 24)); // Elf64_Sym.st_name
      if (name === "mmap" || name === "munmap") found.set(name, Number(base + read.u64(at as Pointer, off)));
    }
  }
  const mmap = found.get("mmap");
  const munmap = found.get("munmap");
  return mmap === undefined || munmap === undefined ? undefined : { mmap, munmap };
}

/** Writes `value` into the 8-octet slot at `slot`, lifting its page's write protection for the moment. */
function writeSlot(libc: ReturnType<typeof openLibc>, slot: number, value: number): boolean {
  const page = libc.getpagesize();
  const start = slot - (slot % page);
  const prot = protectionAt(slot);
  if (prot === undefined) return false;
  if ((prot & PROT.w!) === 0 && libc.mprotect(start as Pointer, page, prot | PROT.w!) !== 0) return false;
  new BigUint64Array(toArrayBuffer(slot as Pointer, 0, 8))[0] = BigInt(value);
  if ((prot & PROT.w!) === 0) libc.mprotect(start as Pointer, page, prot);
  return true;
}

/**
 * Makes libcrypt keep its yescrypt region from one check to the next in this process.
 * Returns whether it is in place (false: checks run as before). Once per process; call it
 * only where nothing else uses libcrypt from another thread.
 */
export function keepYescryptRegion(): boolean {
  if (installed !== undefined) return installed;
  installed = false;
  const relocations = GOT_RELOCATIONS[process.arch];
  if (process.platform !== "linux" || relocations === undefined) return false;
  let libc: ReturnType<typeof openLibc>;
  let slots: { mmap: number; munmap: number } | undefined;
  try {
    libc = openLibc();
    slots = libcryptSlots(libc, relocations);
  } catch {
    return false;
  }
  if (slots === undefined) return false;
  const realMmap = Number(libc.dlsym(null, Buffer.from("mmap\0")));
  const realMunmap = Number(libc.dlsym(null, Buffer.from("munmap\0")));
  // Only libc's own functions are replaced (nothing interposed them already).
  if (realMmap === 0 || realMunmap === 0 || Number(read.u64(slots.mmap as Pointer, 0)) !== realMmap || Number(read.u64(slots.munmap as Pointer, 0)) !== realMunmap) return false;

  /** Large anonymous mappings libcrypt made and has not unmapped. */
  const live = new Map<number, Mapping>();
  let kept: Mapping | undefined;
  const mmapHook = new JSCallback((addr: Pointer | null, length: number | bigint, prot: number, flags: number, fd: number, offset: number | bigint): number => {
    const n = Number(length);
    if (kept !== undefined && addr === null && fd === -1 && n === kept.length && prot === kept.prot && flags === kept.flags) {
      const region = kept;
      kept = undefined;
      live.set(region.addr, region);
      regionFigures.reused++;
      return region.addr;
    }
    const got = Number(libc.mmap(addr, n, prot, flags, fd, offset));
    if (got !== -1 && fd === -1 && n >= KEEP_AT_LEAST && n <= KEEP_AT_MOST) live.set(got, { addr: got, length: n, prot, flags });
    return got;
  }, { args: ["ptr", "u64", "i32", "i32", "i32", "i64"], returns: "i64" });
  const munmapHook = new JSCallback((addr: Pointer | null, length: number | bigint): number => {
    const at = Number(addr);
    const n = Number(length);
    const mapping = live.get(at);
    if (mapping !== undefined) live.delete(at);
    if (mapping !== undefined && mapping.length === n) {
      // The last one is kept: a region of another size kept before is given back.
      if (kept !== undefined) libc.munmap(kept.addr as Pointer, kept.length);
      kept = mapping;
      regionFigures.kept++;
      return 0;
    }
    return libc.munmap(addr, n);
  }, { args: ["ptr", "u64"], returns: "i32" });
  hooks.push(mmapHook, munmapHook);
  if (mmapHook.ptr === null || munmapHook.ptr === null) return false;
  // munmap first: a kept region is only ever handed out by the mmap hook, which comes second.
  if (!writeSlot(libc, slots.munmap, Number(munmapHook.ptr))) return false;
  if (!writeSlot(libc, slots.mmap, Number(mmapHook.ptr))) {
    writeSlot(libc, slots.munmap, realMunmap);
    return false;
  }
  installed = true;
  return true;
}
