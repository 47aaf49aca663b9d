/**
 * base — what every layer uses, with nothing of poppin's below it: djb's exit codes and the
 * error classes (errors.ts), djb's words for each errno (errno_text.ts), whole writes to fds 1 and 2 (io.ts), log escaping (log_value.ts),
 * every POPPIN_* variable with its parser and default (env.ts), the version (version.ts), and
 * node:path's POSIX functions without loading node:path (posix_path.ts).
 */
export * from "./errors.ts";
export * from "./io.ts";
export * from "./log_value.ts";
export * from "./env.ts";
export * from "./version.ts";
export * from "./posix_path.ts";
