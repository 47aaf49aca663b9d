/**
 * The uids and gids poppin can switch to. Linux ids run to 2^32 - 2, but the runtime's
 * process.setgid and process.setuid refuse anything above 2^31 - 1 with ERR_OUT_OF_RANGE,
 * which would reach an administrator as "unknown error". Each place that switches ids asks
 * here first and says why in words.
 */
export const RUNTIME_MAX_ID = 2147483647;

/** Why `id` cannot be switched to, or undefined when it can. */
export function idBeyondRuntime(what: "uid" | "gid", id: number): string | undefined {
  return id > RUNTIME_MAX_ID ? `${what} ${id} is above ${RUNTIME_MAX_ID}, the largest poppin can switch to` : undefined;
}
