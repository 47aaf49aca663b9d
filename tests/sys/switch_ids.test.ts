/**
 * sys/switch_ids.ts: the one uid/gid switch, through libc. Every id Linux allows (up to
 * 4294967294) takes, in every thread; ids past 32 bits and (uid_t)-1 are refused in words
 * before anything changes; and where the kernel refuses a step (a user namespace without the
 * right, or without a mapping for the id), the switch throws at that step, and the applets
 * stop there, as Debian's setuidgid and tcpserver do, without running anything as root.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { idProblem, MAX_ID } from "../../mod/sys/switch_ids.ts";
import { applet, requireTool, run, tempDir } from "../helpers.ts";
import { highAccount, removeHighAccounts } from "./high_account.ts";

afterAll(removeHighAccounts);

const BUN = process.execPath;
const PROBE = join(import.meta.dir, "fixtures", "switch_probe.ts");
const USERNS = join(import.meta.dir, "fixtures", "userns_run.py");
const PATH = "/usr/bin:/bin";

interface Probe {
  error?: { step: string; code?: string; message: string };
  ids: { uids: number[]; gids: number[]; groups: number[] };
  threads: string[];
}

function probe(ask: object, wrap: string[] = []): Probe {
  const r = run([...wrap, BUN, PROBE, JSON.stringify(ask)], { env: { PATH } });
  if (r.code !== 0) throw new Error(`probe: ${r.code} ${r.stderr}`);
  return JSON.parse(r.out) as Probe;
}

/** A user namespace where root is root and only the ids in `gids` besides 0 are mapped (setgroups as `setgroups`). */
function userns(gids: number[], setgroups: "allow" | "deny"): string[] {
  return [USERNS, "0 0 1", ["0 0 1", ...gids.map((g) => `${g} ${g} 1`)].join(","), setgroups];
}

describe("the switch", () => {
  test("to the largest ids Linux allows: real, effective, saved and filesystem ids and the groups of every thread", () => {
    const p = probe({ how: "ids", uid: MAX_ID, gid: 3000000001, groups: { list: [3000000001, 2147483648] } });
    expect(p.error).toBeUndefined();
    expect(p.ids).toEqual({ uids: [MAX_ID, MAX_ID, MAX_ID], gids: [3000000001, 3000000001, 3000000001], groups: [2147483648, 3000000001] });
    // The runtime's threads and a Worker's: glibc applies the calls to each.
    expect(p.threads.length).toBeGreaterThan(2);
    expect(new Set(p.threads)).toEqual(new Set([`${MAX_ID} ${MAX_ID} ${MAX_ID} ${MAX_ID}|3000000001 3000000001 3000000001 3000000001|2147483648 3000000001`]));
  });

  test("effective ids for a while (qmqpd's delivery as root), then root again", () => {
    const away = probe({ how: "effective", uid: 3000000002, gid: 3000000003, groups: { list: [] } });
    expect(away.error).toBeUndefined();
    expect(away.ids).toEqual({ uids: [0, 3000000002, 0], gids: [0, 3000000003, 0], groups: [3000000003] });
    expect(new Set(away.threads)).toEqual(new Set(["0 3000000002 0 3000000002|0 3000000003 0 3000000003|3000000003"]));
    const back = probe({ how: "effective-and-back", uid: 3000000002, gid: 3000000003, groups: { list: [] } });
    expect(back.error).toBeUndefined();
    expect(back.ids).toEqual({ uids: [0, 0, 0], gids: [0, 0, 0], groups: [0] });
    expect(new Set(back.threads)).toEqual(new Set(["0 0 0 0|0 0 0 0|0"]));
  });

  test("ids past 32 bits and (uid_t)-1 are refused in words before anything changes", () => {
    expect(idProblem("uid", 4294967295)).toBe("uid 4294967295 is (uid_t)-1, which no account can have (Linux ids run from 0 to 4294967294)");
    expect(idProblem("gid", 4294967296)).toBe("gid 4294967296 is not a valid gid (Linux ids run from 0 to 4294967294)");
    expect(idProblem("uid", -1)).toBe("uid -1 is not a valid uid (Linux ids run from 0 to 4294967294)");
    expect(idProblem("uid", 1.5)).toBe("uid 1.5 is not a valid uid (Linux ids run from 0 to 4294967294)");
    expect(idProblem("uid", MAX_ID)).toBeUndefined();
    const unchanged = { uids: [0, 0, 0], gids: [0, 0, 0] };
    const uid = probe({ how: "ids", uid: 4294967295, gid: 3000000000, groups: { list: [3000000000] } });
    expect(uid.error).toEqual({ step: "uid", message: "uid 4294967295 is (uid_t)-1, which no account can have (Linux ids run from 0 to 4294967294)" });
    expect(uid.ids).toMatchObject(unchanged);
    const gid = probe({ how: "ids", uid: 3000000000, gid: 4294967296, groups: { list: [4294967296] } });
    expect(gid.error).toEqual({ step: "gid", message: "gid 4294967296 is not a valid gid (Linux ids run from 0 to 4294967294)" });
    expect(gid.ids).toMatchObject(unchanged);
    const group = probe({ how: "ids", uid: 3000000000, gid: 3000000000, groups: { list: [3000000000, 4294967295] } });
    expect(group.error?.message).toBe("gid 4294967295 is (gid_t)-1, which no account can have (Linux ids run from 0 to 4294967294)");
    expect(group.ids).toMatchObject(unchanged);
  });

  test("setgroups refused (a user namespace whose setgroups is denied): the error at that step, nothing switched", () => {
    const p = probe({ how: "ids", uid: 3000000000, gid: 3000000000, groups: { list: [3000000000] } }, userns([3000000000], "deny"));
    expect(p.error).toEqual({ step: "groups", code: "EPERM", message: "setgroups: EPERM" });
    expect(p.ids).toMatchObject({ uids: [0, 0, 0], gids: [0, 0, 0] });
  });

  test("the uid refused after the groups and gid took (no mapping for the uid): the error at that step, the uid still root's", () => {
    const p = probe({ how: "ids", uid: 3000000000, gid: 3000000000, groups: { list: [3000000000] } }, userns([3000000000], "allow"));
    expect(p.error).toEqual({ step: "uid", code: "EINVAL", message: "setresuid: EINVAL" });
    // Half done: which is why every caller stops at the error instead of going on.
    expect(p.ids).toEqual({ uids: [0, 0, 0], gids: [3000000000, 3000000000, 3000000000], groups: [3000000000] });
  });

  test("capabilities kept across the switch (securebits no_setuid_fixup): refused at the uid step, for good and effective switches", () => {
    const keep = ["setpriv", "--securebits", "+no_setuid_fixup"];
    const good = probe({ how: "ids", uid: 3000000004, gid: 3000000004, groups: { list: [3000000004] } }, keep);
    expect(good.error?.step).toBe("uid");
    expect(good.error?.message).toMatch(/^thread \d+ kept capabilities after the uid switch \(CapEff 0*[1-9a-f][0-9a-f]*, CapPrm [0-9a-f]+\): a process acting as a user may hold none, and the service was started with capabilities that outlive a uid switch/);
    const effective = probe({ how: "effective", uid: 3000000004, gid: 3000000004, groups: { list: [] } }, keep);
    expect(effective.error?.step).toBe("uid");
    expect(effective.error?.message).toMatch(/kept capabilities after the uid switch \(CapEff [0-9a-f]+\)/);
  });
});

describe("applets stop where the switch fails, as Debian's do, and run nothing", () => {
  const acct = highAccount("swf", { home: false });
  const work = tempDir("swf");

  for (const [what, ns] of [["setgroups denied", userns([acct.gid], "deny")], ["no mapping for the uid", userns([acct.gid], "allow")]] as const) {
    test(`setuidgid, ${what}: the same words and exit code as daemontools' setuidgid; the program never runs`, () => {
      const outcome = (bin: string) => {
        const mark = join(work, `ran-${what.length}-${bin.length}`);
        const r = run([...ns, bin, acct.name, "sh", "-c", `echo ran > ${mark}`], { env: { PATH } });
        return { code: r.code, out: r.out, stderr: r.stderr, ran: existsSync(mark) };
      };
      const debian = outcome(requireTool("setuidgid"));
      const ours = outcome(applet("setuidgid"));
      expect(ours).toEqual({ code: 111, out: "", stderr: what === "setgroups denied" ? "setuidgid: fatal: unable to setgid: permission denied\n" : "setuidgid: fatal: unable to setuid: invalid argument\n", ran: false });
      expect(ours).toEqual(debian);
    });

    test(`serve -u -g, ${what}: tcpserver's words and exit code; it never accepts a connection`, () => {
      const mark = join(work, `served-${what.length}`);
      const argv = (bin: string) => [...ns, bin, "-u", String(acct.uid), "-g", String(acct.gid), "127.0.0.1", "0", "sh", "-c", `echo ran > ${mark}`];
      const debian = run(argv(requireTool("tcpserver")), { env: { PATH }, timeoutMs: 10_000 });
      const ours = run(argv(applet("tcpserver")), { env: { PATH }, timeoutMs: 10_000 });
      const expected = what === "setgroups denied" ? "tcpserver: fatal: unable to set gid: permission denied\n" : "tcpserver: fatal: unable to set uid: invalid argument\n";
      expect({ code: ours.code, stderr: ours.stderr }).toEqual({ code: 111, stderr: expected });
      expect({ code: debian.code, stderr: debian.stderr }).toEqual({ code: ours.code, stderr: ours.stderr });
      expect(existsSync(mark)).toBe(false);
    });

    test(`checkpassword, ${what}: the right password, then the switch fails: exit in djb's codes, PROG never runs`, () => {
      const input = join(work, `fd3-${what.length}`);
      writeFileSync(input, `${acct.name}\0${acct.password}\0\0`);
      const mark = join(work, `logged-${what.length}`);
      const r = run([...ns, "sh", "-c", `exec "$0" sh -c 'echo ran > ${mark}' 3<"$1"`, applet("checkpassword"), input], { env: { PATH } });
      // Groups: a temporary failure (111); the gid or uid: djb's prot_gid/prot_uid failing, exit 1, with a line that says why.
      expect({ code: r.code, stderr: r.stderr }).toEqual(what === "setgroups denied"
        ? { code: 111, stderr: `checkpassword: fatal: unable to set groups for ${acct.name}: permission denied\n` }
        : { code: 1, stderr: `checkpassword: warning: account refused user=${acct.name} rip=unknown why=unable%20to%20switch%20to%20uid%20${acct.uid}%20gid%20${acct.gid}:%20invalid%20argument\n` });
      expect(existsSync(mark)).toBe(false);
    });
  }
});
