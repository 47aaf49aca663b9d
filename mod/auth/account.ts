/** An account that may log in, from the system databases or the virtual-user database. */
export interface Account {
  /** The login as given (the name for USER and initgroups). */
  login: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
  /** The crypt(3) hash; undefined when there is none to check. */
  hash: string | undefined;
  /** "system": passwd/shadow through NSS (initgroups by name); "virtual": the user database (groups = [gid]). */
  source: "system" | "virtual";
  /** Why the account may not log in whatever the password (expired, locked): checked after the crypt call. */
  refusal?: string;
}

/** What virtual users get as SHELL: they have no shell login. */
export const VIRTUAL_SHELL = "/usr/sbin/nologin";

/**
 * Whether a stored hash can never match: empty, or a lock marker. `!` or `*` in front
 * is how passwd -l and useradd lock an account; libcrypt answers such settings with
 * "*0" or NULL anyway, but we refuse before asking.
 */
export function isLockedHash(hash: string | undefined): boolean {
  return hash === undefined || hash === "" || hash.startsWith("!") || hash.startsWith("*");
}
