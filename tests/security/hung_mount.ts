/**
 * A local user's FUSE mount that never answers (tests/security/hung_fs.py), mounted by that
 * user over a directory of theirs with the setuid fusermount3, as any local user can. The
 * tests need /dev/fuse, fusermount3 and python3-fusepy (.ci/run installs fuse3 and
 * python3-fusepy): when one is missing they fail and say which, they never skip.
 */
import { accessSync, chmodSync, constants as fsConstants, existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";

const FS_SCRIPT = join(import.meta.dir, "hung_fs.py");
const PYTHON = "/usr/bin/python3";

/** Throws, naming what to install, when a FUSE mount cannot be made here. */
export function requireFuse(): void {
  const missing: string[] = [];
  if (!existsSync("/dev/fuse")) missing.push("/dev/fuse (the fuse kernel module)");
  try {
    accessSync("/usr/bin/fusermount3", fsConstants.X_OK);
  } catch {
    missing.push("/usr/bin/fusermount3 (apt-get install fuse3)");
  }
  if (Bun.spawnSync([PYTHON, "-c", "import fusepy"]).exitCode !== 0) missing.push("the fusepy module of /usr/bin/python3 (apt-get install python3-fusepy)");
  if (missing.length > 0) throw new Error(`these tests mount a FUSE filesystem as a local user and need: ${missing.join(", ")}`);
  // fusepy's libfuse 2 opens /dev/fuse itself: Debian's udev rule makes it 0666; a machine
  // without udev (a VM, a container) leaves the kernel's 0600. The tests run as root.
  if ((statSync("/dev/fuse").mode & 0o666) !== 0o666) chmodSync("/dev/fuse", 0o666);
}

export interface Owner {
  uid: number;
  gid: number;
  home: string;
}

export interface HungMount {
  path: string;
  /** Lines the filesystem said ("mounted", "blocked PATH"). */
  said(): string[];
  /** Ends the filesystem's process (every waiting request then fails) and unmounts. */
  remove(): Promise<void>;
}

function mounted(path: string): boolean {
  return readFileSync("/proc/self/mountinfo", "utf8").split("\n").some((l) => l.split(" ")[4] === path);
}

async function waitFor(what: string, probe: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}

/**
 * Mounts the hung filesystem as `owner` over `path` (a directory of theirs), then has one of
 * their processes wait on it (`stat -f PATH`): from then on every request to it, the
 * session's included, waits in the kernel's queue.
 */
export async function hungMount(owner: Owner, path: string, opts: { byRoot?: boolean } = {}): Promise<HungMount> {
  requireFuse();
  const env = { PATH: "/usr/bin:/bin", HOME: owner.home };
  let out = "";
  // byRoot: mounted by root for every uid (allow_other), as an NFS home whose server stopped answering.
  const ids = opts.byRoot ? { uid: 0, gid: 0 } : { uid: owner.uid, gid: owner.gid };
  const argv = opts.byRoot ? [PYTHON, FS_SCRIPT, path, "--allow-other", String(owner.uid), String(owner.gid)] : [PYTHON, FS_SCRIPT, path];
  const fs: Subprocess = Bun.spawn(argv, { ...ids, env, cwd: "/", stdout: "pipe", stderr: "pipe" });
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of fs.stdout as ReadableStream<Uint8Array>) out += decoder.decode(chunk);
  })();
  const said = () => out.split("\n").filter((l) => l !== "");
  let blocker: Subprocess | undefined;
  const remove = async () => {
    fs.kill("SIGKILL");
    await fs.exited;
    await blocker?.exited;
    Bun.spawnSync(["umount", "-l", path]);
  };
  try {
    await waitFor(`the FUSE mount on ${path}`, () => mounted(path) && said().includes("mounted"));
    blocker = Bun.spawn(["stat", "-f", path], { ...ids, env, cwd: "/", stdout: "ignore", stderr: "ignore" });
    await waitFor("the first request to hang", () => said().includes("blocked statfs"));
  } catch (e) {
    const err = fs.exitCode === null ? "" : await new Response(fs.stderr as ReadableStream<Uint8Array>).text();
    await remove();
    throw new Error(`${(e as Error).message}${err === "" ? "" : `; the filesystem said: ${err.trim()}`}`);
  }
  return { path, said, remove };
}
