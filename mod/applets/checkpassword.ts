import { BEARER_VARIABLE } from "../sasl/oauthbearer.ts";
import type { Applet } from "../cli/applet.ts";
import { fatal, usage, warning } from "../cli/context.ts";
import { EXIT_MISUSE, EXIT_USAGE, PoppinError } from "../base/errors.ts";
import { authenticate } from "../auth/authenticate.ts";
import { authenticateWithBearer } from "../auth/bearer_login.ts";
import { authConfigFromEnv } from "../auth/config.ts";
import { AccountRefused, AuthRefused, MalformedRequest, accountRefusedLine, parseRequest, readRequestFd } from "../auth/request.ts";
import { inheritedFds, passThrough } from "../auth/inherited_fds.ts";
import { makeUndumpable } from "../sys/dumpable.ts";
import { becomeAccount, enterHome, execProgram, sessionEnvironment } from "../auth/session.ts";
import { daysSinceEpoch } from "../auth/shadow_policy.ts";
import { clientAddressKnown } from "../base/ucspi_env.ts";
import { stopWatchdog } from "../sys/watchdog.ts";

const USERDB_OPTION = "--userdb=";

/**
 * djb's checkpassword: exit 2 without PROG (`poppin checkpassword`: a usage line, exit 100)
 * or with malformed fd-3 data, 1 for a wrong
 * password or unknown user (silently, like the original), 111 for temporary trouble
 * (with one line on stderr naming it; never the password). On success it becomes PROG.
 */
export const applet: Applet = {
  name: "checkpassword",
  summary: "check a login from fd 3 (djb's interface) against system or virtual accounts, then run PROG",
  usage: "checkpassword [--userdb=FILE] PROG [ARGS...]",
  async run(args, ctx) {
    // The password arrives on fd 3: no other process of this uid (serve's -u uid) may read it.
    // The program run on success is exec'd, and is dumpable again (the owner's own process).
    try {
      makeUndumpable();
    } catch {
      // prctl refused: nothing more this process can do about it
    }
    let userdb: string | undefined;
    // Only this exact spelling is an option: PROG itself may start with "-".
    if (args[0]?.startsWith(USERDB_OPTION)) userdb = args.shift()!.slice(USERDB_OPTION.length);
    if (args.length === 0) {
      if (ctx.classic) return EXIT_MISUSE; // djb's checkpassword: exit 2, silently
      usage(ctx, "poppin checkpassword [--userdb=FILE] PROG [ARGS...]");
      return EXIT_USAGE;
    }
    // Behind a foreign qmail-popup started by inetd or socket activation, nobody set
    // tcpserver's variables: the connection on fd 0 says who the client is (loaded only then).
    if (!clientAddressKnown(ctx.env)) (await import("../serve/inherited_connection.ts")).fillFromInheritedConnection(ctx.env, 0);
    const inherited = inheritedFds(3);
    try {
      const config = authConfigFromEnv(ctx.env, userdb);
      const raw = readRequestFd(3);
      const euid = process.geteuid!();
      let result;
      try {
        const request = parseRequest(raw);
        const env = { euid, today: daysSinceEpoch(new Date()) };
        // A bearer token (OAUTHBEARER, XOAUTH2) comes beside fd 3, from popup: see mod/sasl/oauthbearer.ts.
        result = await authenticateWithBearer(request, config, env, ctx.env, ctx.env[BEARER_VARIABLE], () => authenticate(request, config, env));
      } finally {
        raw.fill(0); // the password, as checkpassword.c clears up[]
      }
      becomeAccount(result.account, euid);
      enterHome(result.account, ctx.env);
      // The watchdog timed the change to the home; PROG may be any program (qmail-pop3d knows
      // nothing of it and would be ended mid-session), so it does not outlive the exec.
      // poppin's pop3d arms its own before it touches the Maildir.
      stopWatchdog();
      passThrough(inherited);
      execProgram(args, sessionEnvironment(ctx.env, result.account));
    } catch (err) {
      if (err instanceof AccountRefused) warning(ctx, accountRefusedLine(err, ctx.env.TCPREMOTEIP));
      if (err instanceof AuthRefused || err instanceof MalformedRequest) return err.exitCode;
      if (err instanceof PoppinError) {
        fatal(ctx, err.message);
        return err.exitCode;
      }
      throw err;
    }
  },
};
