/**
 * The one way poppin changes its uid, gid and groups: libc through bun:ffi, as djb's prot_gid
 * and prot_uid do (setgroups, then the gid, then the uid), so every id Linux gives an account
 * works, 0 to 4294967294. (The runtime's process.setuid and spawn's uid option take only ids up
 * to 2^31 - 1.) glibc applies setgroups, setresgid and setresuid to every thread of the
 * process, and each switch is checked afterwards: the real, effective and saved ids, the group
 * list, and every thread's ids and capability sets in /proc/self/task (a switch away from root
 * that left a capability is no switch). A failure at any step throws IdSwitchError;
 * the caller stops there and never goes on with the rights it had.
 */
import { readdirSync, readFileSync } from "node:fs";
import { cBytes } from "./libc.ts";
import { errnoName, lastErrno, libcFunctions } from "./ffi.ts";

/** The largest uid or gid: 4294967295 is (uid_t)-1, which setresuid reads as "leave unchanged". */
export const MAX_ID = 4294967294;
const UNCHANGED = 0xffffffff;
/** Linux's NGROUPS_MAX: more supplementary groups than the kernel takes. */
const GROUPS_MAX = 65536;

const libc = libcFunctions({
  setgroups: { args: ["u64", "ptr"], returns: "i32" },
  initgroups: { args: ["ptr", "u32"], returns: "i32" },
  setresgid: { args: ["u32", "u32", "u32"], returns: "i32" },
  setresuid: { args: ["u32", "u32", "u32"], returns: "i32" },
  getresgid: { args: ["ptr", "ptr", "ptr"], returns: "i32" },
  getresuid: { args: ["ptr", "ptr", "ptr"], returns: "i32" },
  getgroups: { args: ["i32", "ptr"], returns: "i32" },
}).symbols;

/** The step that failed: the groups, the gid or the uid (djb's setuidgid words them "setgid", "setuid"). */
export type SwitchStep = "groups" | "gid" | "uid";

/**
 * A switch that did not happen, or not wholly. `code` is the errno name when a libc call
 * refused ("EPERM"), undefined when the id was out of range or the check afterwards failed;
 * the message then says why in words.
 */
export class IdSwitchError extends Error {
  readonly step: SwitchStep;
  readonly code: string | undefined;
  constructor(step: SwitchStep, message: string, code?: string) {
    super(message);
    this.name = "IdSwitchError";
    this.step = step;
    this.code = code;
  }
}

/** Why `id` is no uid or gid (undefined when it is one): beyond 32 bits, or (uid_t)-1. */
export function idProblem(what: "uid" | "gid", id: number): string | undefined {
  if (Number.isInteger(id) && id >= 0 && id <= MAX_ID) return undefined;
  return id === UNCHANGED
    ? `${what} ${id} is (${what}_t)-1, which no account can have (Linux ids run from 0 to ${MAX_ID})`
    : `${what} ${id} is not a valid ${what} (Linux ids run from 0 to ${MAX_ID})`;
}

/** Supplementary groups: a list, or the account's groups from the group database (initgroups). */
export type GroupsSpec = { list: readonly number[] } | { initgroupsFor: string };

export interface IdTarget {
  uid: number;
  gid: number;
  groups: GroupsSpec;
}

function failed(step: SwitchStep, call: string): IdSwitchError {
  const code = errnoName(lastErrno());
  return new IdSwitchError(step, `${call}: ${code}`, code);
}

function checkRange(target: { uid: number; gid: number }, groups: readonly number[] = []): void {
  const gidProblem = idProblem("gid", target.gid) ?? groups.map((g) => idProblem("gid", g)).find((p) => p !== undefined);
  if (gidProblem !== undefined) throw new IdSwitchError("gid", gidProblem);
  const uidProblem = idProblem("uid", target.uid);
  if (uidProblem !== undefined) throw new IdSwitchError("uid", uidProblem);
}

function setGroups(groups: GroupsSpec, gid: number): void {
  if ("initgroupsFor" in groups) {
    if (libc().initgroups(cBytes(groups.initgroupsFor), gid) !== 0) throw failed("groups", "initgroups");
    return;
  }
  const list = new Uint32Array(groups.list);
  if (libc().setgroups(list.length, list) !== 0) throw failed("groups", "setgroups");
}

/** The real, effective and saved uids and gids, and the supplementary groups, as libc reports them. */
export interface CurrentIds {
  uids: [number, number, number];
  gids: [number, number, number];
  groups: number[];
}

export function currentIds(): CurrentIds {
  const ids = (call: "getresuid" | "getresgid"): [number, number, number] => {
    const [real, effective, saved] = [new Uint32Array(1), new Uint32Array(1), new Uint32Array(1)];
    if (libc()[call](real, effective, saved) !== 0) throw failed(call === "getresuid" ? "uid" : "gid", call);
    return [real[0], effective[0], saved[0]];
  };
  const uids = ids("getresuid");
  const gids = ids("getresgid");
  const list = new Uint32Array(GROUPS_MAX);
  const n = libc().getgroups(GROUPS_MAX, list);
  if (n < 0) throw failed("groups", "getgroups");
  return { uids, gids, groups: [...list.subarray(0, n)] };
}

/** The capability sets a thread may still use or regain (hexadecimal, as /proc shows them). */
const CAPABILITY_SETS = ["CapEff", "CapPrm", "CapAmb"] as const;
type CapabilitySet = (typeof CAPABILITY_SETS)[number];

/** Each thread's uids and gids (real, effective, saved, filesystem) and capability sets from /proc/self/task. */
function threadIds(): { tid: string; uids: number[]; gids: number[]; caps: Record<CapabilitySet, string> }[] {
  const out = [];
  for (const tid of readdirSync("/proc/self/task")) {
    let status;
    try {
      status = readFileSync(`/proc/self/task/${tid}/status`, "latin1");
    } catch {
      continue; // the thread ended meanwhile
    }
    const text = (name: string) => (new RegExp(`^${name}:\\s+(.*)$`, "m").exec(status)?.[1] ?? "").trim();
    const field = (name: string) => text(name).split(/\s+/).map(Number);
    const caps = Object.fromEntries(CAPABILITY_SETS.map((set) => [set, text(set)])) as Record<CapabilitySet, string>;
    out.push({ tid, uids: field("Uid"), gids: field("Gid"), caps });
  }
  return out;
}

/**
 * The capability sets that must be empty once a thread runs as uid `uids` (real, effective,
 * saved; -1: unchanged): none with a root effective uid; the effective set once the effective
 * uid is not root; all three once no uid is. The kernel empties them on the switch from root,
 * unless the service was started with securebits that keep them (no_setuid_fixup, keep_caps);
 * a switch between two non-root uids keeps them all (a service run as its own account with
 * ambient CAP_SETUID, say). A process then acting as the user with CAP_DAC_OVERRIDE or
 * CAP_SETUID left would open any path the user's links lead to, or become root again.
 */
function capabilitiesToBeEmpty(uids: number[]): readonly CapabilitySet[] {
  if (uids[1] === UNCHANGED || uids[1] === 0) return [];
  return uids.every((u) => u !== UNCHANGED && u !== 0) ? CAPABILITY_SETS : ["CapEff"];
}

/** Throws unless the process, every thread included, runs as `want` (uids and gids as asked, -1: any). */
function verify(want: { uids: number[]; gids: number[] }, groups: GroupsSpec | undefined, gid: number): void {
  const now = currentIds();
  const same = (have: number[], wanted: number[]) => wanted.every((w, i) => w === UNCHANGED || have[i] === w);
  const shown = (ids: number[]) => ids.map((id) => (id === UNCHANGED ? "-" : String(id))).join("/");
  if (!same(now.gids, want.gids)) throw new IdSwitchError("gid", `the gid switch did not take: real/effective/saved gids are ${now.gids.join("/")}, not ${shown(want.gids)}`);
  if (groups !== undefined) {
    const ok = "list" in groups ? now.groups.length === new Set(groups.list).size && groups.list.every((g) => now.groups.includes(g)) : now.groups.includes(gid);
    if (!ok) throw new IdSwitchError("groups", `the group switch did not take: the groups are ${now.groups.join(",") || "none"}`);
  }
  if (!same(now.uids, want.uids)) throw new IdSwitchError("uid", `the uid switch did not take: real/effective/saved uids are ${now.uids.join("/")}, not ${shown(want.uids)}`);
  // A thread left with the old ids would keep them for whatever it does next.
  const emptyCaps = capabilitiesToBeEmpty(want.uids);
  for (const t of threadIds()) {
    const fs = (ids: number[]) => [...ids, ids[1]]; // the filesystem id follows the effective one
    if (!same(t.gids, fs(want.gids))) throw new IdSwitchError("gid", `thread ${t.tid} kept gids ${t.gids.join("/")}`);
    if (!same(t.uids, fs(want.uids))) throw new IdSwitchError("uid", `thread ${t.tid} kept uids ${t.uids.join("/")}`);
    const kept = emptyCaps.filter((set) => t.caps[set] !== "" && !/^0+$/.test(t.caps[set])); // "": a set this kernel lacks
    if (kept.length > 0) {
      throw new IdSwitchError("uid", `thread ${t.tid} kept capabilities after the uid switch (${kept.map((set) => `${set} ${t.caps[set]}`).join(", ")}): a process acting as a user may hold none, and the service was started with capabilities that outlive a uid switch (ambient ones under a non-root account, or securebits no_setuid_fixup or keep_caps)`);
    }
  }
}

/** The groups, then the real, effective and saved gid; unchecked (the callers verify). */
function setGid(gid: number, groups: GroupsSpec): void {
  setGroups(groups, gid);
  if (libc().setresgid(gid, gid, gid) !== 0) throw failed("gid", "setresgid");
}

/** The real, effective and saved uid; unchecked (the callers verify). */
function setUid(uid: number): void {
  if (libc().setresuid(uid, uid, uid) !== 0) throw failed("uid", "setresuid");
}

/**
 * prot_gid for good (as root): the groups, then the real, effective and saved gid; checked
 * afterwards. Throws IdSwitchError; when the gid step fails the groups stay switched.
 */
export function switchGid(gid: number, groups: GroupsSpec): void {
  checkRange({ uid: 0, gid }, "list" in groups ? groups.list : []);
  setGid(gid, groups);
  verify({ uids: [UNCHANGED, UNCHANGED, UNCHANGED], gids: [gid, gid, gid] }, groups, gid);
}

/** prot_uid for good: the real, effective and saved uid; checked afterwards. Throws IdSwitchError. */
export function switchUid(uid: number): void {
  checkRange({ uid, gid: 0 });
  setUid(uid);
  verify({ uids: [uid, uid, uid], gids: [UNCHANGED, UNCHANGED, UNCHANGED] }, undefined, 0);
}

/**
 * Becomes `target` for good (as root): groups, then gid, then uid, then checks it all took,
 * once (every thread's ids and capabilities are read once per switch, not after each step).
 * Every id is checked before the first call. Throws IdSwitchError at the first step that
 * fails; the steps before it stay done, so the caller must stop (not carry on as root).
 */
export function switchIds(target: IdTarget): void {
  checkRange(target, "list" in target.groups ? target.groups.list : []);
  setGid(target.gid, target.groups);
  setUid(target.uid);
  verify({ uids: [target.uid, target.uid, target.uid], gids: [target.gid, target.gid, target.gid] }, target.groups, target.gid);
}

/**
 * Root acting for a while as `target`: the groups become [gid], the effective gid and uid
 * become the target's, while the real and saved ids stay root's, so restoreRoot() takes
 * them back. Throws IdSwitchError (call restoreRoot() before going on either way).
 */
export function switchEffectiveIds(target: { uid: number; gid: number }): void {
  checkRange(target);
  setGroups({ list: [target.gid] }, target.gid);
  if (libc().setresgid(UNCHANGED, target.gid, UNCHANGED) !== 0) throw failed("gid", "setresgid");
  if (libc().setresuid(UNCHANGED, target.uid, UNCHANGED) !== 0) throw failed("uid", "setresuid");
  verify({ uids: [UNCHANGED, target.uid, UNCHANGED], gids: [UNCHANGED, target.gid, UNCHANGED] }, { list: [target.gid] }, target.gid);
}

/** Back to root after switchEffectiveIds: uid first (it gives back the right to set the rest), gid, groups [0]. */
export function restoreRoot(): void {
  if (libc().setresuid(UNCHANGED, 0, UNCHANGED) !== 0) throw failed("uid", "setresuid");
  if (libc().setresgid(UNCHANGED, 0, UNCHANGED) !== 0) throw failed("gid", "setresgid");
  setGroups({ list: [0] }, 0);
  verify({ uids: [UNCHANGED, 0, UNCHANGED], gids: [UNCHANGED, 0, UNCHANGED] }, { list: [0] }, 0);
}

/**
 * Whether this process could become root again: setresuid(0, 0, 0) works, or some id is
 * still 0. After switchIds to a user this must be false; when it is true the process is root
 * again and must stop.
 */
export function canRegainRoot(): boolean {
  if (libc().setresuid(0, 0, 0) === 0) return true;
  const now = currentIds();
  return [...now.uids, ...now.gids].includes(0);
}
