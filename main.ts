// Dispatch only: pick the applet from argv[0] or the first argument (see mod/cli/dispatch.ts).
import { basename } from "./mod/base/posix_path.ts";
import { dispatch } from "./mod/cli/dispatch.ts";

// Compiled: argv = ["bun", "/$bunfs/root/poppin", ...args] and argv0 is the name we were called by.
// From source (`bun main.ts`): argv0 is "bun" and argv[1] is this file.
const argv0 = basename(process.argv0) === "bun" && process.argv[1]?.endsWith("main.ts") ? "poppin" : process.argv0;
const code = await dispatch({
  argv0,
  args: process.argv.slice(2),
  execPath: process.execPath,
  env: process.env,
});
if (code !== undefined) process.exit(code);
