/**
 * The applet table: the one place that says which names the binary answers to.
 * `poppin install` makes a symlink for every classic name in ALIASES.
 */
import type { Applet, AppletAlias } from "./applet.ts";

/**
 * An applet by name; its module is loaded when the applet runs (or its usage is asked
 * for). Each applet's module is imported dynamically, so a start evaluates only the
 * applet it runs and what that imports: the classic chain starts popup once per login,
 * and need not evaluate serve, the proxy, convert, doctor ... (tests/cli/start_cost.test.ts).
 */
export interface AppletEntry {
  /** Canonical short name: `poppin NAME` (the loaded applet's `name`). */
  readonly name: string;
  load(): Promise<Applet>;
}

function lazy(name: string, load: () => Promise<Applet>): AppletEntry {
  let loaded: Promise<Applet> | undefined;
  return { name, load: () => (loaded ??= load()) };
}

function installNames() {
  return {
    classic: ALIASES.filter((a) => a.classic).map((a) => a.name),
    generic: ALIASES.filter((a) => !a.classic).map((a) => a.name),
  };
}

export const APPLETS: readonly AppletEntry[] = [
  lazy("serve", async () => (await import("../applets/serve.ts")).applet),
  lazy("rules", async () => (await import("../applets/rules.ts")).applet),
  lazy("popup", async () => (await import("../applets/popup.ts")).applet),
  lazy("checkpassword", async () => (await import("../applets/checkpassword.ts")).applet),
  lazy("pop3d", async () => (await import("../applets/pop3d.ts")).applet),
  lazy("log", async () => (await import("../applets/log.ts")).applet),
  lazy("tai64n", async () => (await import("../applets/tai64n.ts")).applet),
  lazy("tai64nlocal", async () => (await import("../applets/tai64nlocal.ts")).applet),
  lazy("maildirmake", async () => (await import("../applets/maildirmake.ts")).applet),
  lazy("deliver", async () => (await import("../applets/deliver.ts")).applet),
  lazy("cdb", async () => (await import("../applets/cdb.ts")).applet),
  lazy("users", async () => (await import("../applets/users.ts")).applet),
  lazy("install", async () => (await import("../applets/install.ts")).makeInstallApplet(installNames)),
  lazy("conf", async () => (await import("../applets/conf.ts")).applet),
  lazy("setuidgid", async () => (await import("../applets/setuidgid.ts")).applet),
  lazy("envuidgid", async () => (await import("../applets/envuidgid.ts")).applet),
  lazy("softlimit", async () => (await import("../applets/softlimit.ts")).applet),
  lazy("envdir", async () => (await import("../applets/envdir.ts")).applet),
  lazy("qmqpd", async () => (await import("../applets/qmqpd.ts")).applet),
  lazy("doctor", async () => (await import("../applets/doctor.ts")).applet),
  lazy("convert", async () => (await import("../applets/convert.ts")).applet),
  lazy("routes", async () => (await import("../applets/routes.ts")).applet),
  lazy("proxy", async () => (await import("../applets/proxy.ts")).applet),
  lazy("config", async () => (await import("../applets/config.ts")).applet),
];

function short(name: string): AppletAlias {
  return { name, applet: name, leadingArgs: [], classic: false };
}

function classic(name: string, applet: string, leadingArgs: string[] = []): AppletAlias {
  return { name, applet, leadingArgs, classic: true };
}

/** Every callable name. Tools that keep djb's name (maildirmake, checkpassword, tai64n) are classic. */
export const ALIASES: readonly AppletAlias[] = [
  short("serve"), classic("tcpserver", "serve"),
  short("rules"), classic("tcprules", "rules", ["compile"]), classic("tcprulescheck", "rules", ["check"]),
  short("popup"), classic("qmail-popup", "popup"),
  classic("checkpassword", "checkpassword"),
  short("pop3d"), classic("qmail-pop3d", "pop3d"),
  short("log"), classic("multilog", "log"),
  classic("tai64n", "tai64n"), classic("tai64nlocal", "tai64nlocal"),
  classic("maildirmake", "maildirmake"),
  short("deliver"),
  short("cdb"), classic("cdbmake", "cdb", ["make"]), classic("cdbget", "cdb", ["get"]), classic("cdbdump", "cdb", ["dump"]),
  short("users"),
  short("conf"), classic("qmail-pop3d-conf", "conf", ["pop3d"]), classic("qmail-qmqpd-conf", "conf", ["qmqpd"]),
  classic("setuidgid", "setuidgid"), classic("envuidgid", "envuidgid"),
  classic("softlimit", "softlimit"), classic("envdir", "envdir"),
  short("qmqpd"), classic("qmail-qmqpd", "qmqpd"),
  short("doctor"),
  short("convert"),
  short("routes"), short("proxy"),
];

/** Names that select an applet only as `poppin NAME` (never symlinked). */
const ARGUMENT_ONLY: readonly AppletAlias[] = [short("install"), short("config")];

/** Every name `poppin NAME` answers to: the aliases, then the argument-only applets. */
export function callableNames(): string[] {
  return [...ALIASES, ...ARGUMENT_ONLY].map((a) => a.name);
}

// Loops rather than find(): its first call costs every start of the binary (JavaScriptCore compiles it then).
export function findAlias(name: string): AppletAlias | undefined {
  for (const a of ALIASES) if (a.name === name) return a;
  for (const a of ARGUMENT_ONLY) if (a.name === name) return a;
  return undefined;
}

export function findApplet(name: string): AppletEntry | undefined {
  for (const a of APPLETS) if (a.name === name) return a;
  return undefined;
}
