/**
 * The applet table: the one place that says which names the binary answers to.
 * `poppin install` makes a symlink for every classic name in ALIASES.
 */
import type { Applet, AppletAlias } from "./applet.ts";
import { applet as cdb } from "../applets/cdb.ts";
import { applet as checkpassword } from "../applets/checkpassword.ts";
import { applet as convert } from "../applets/convert.ts";
import { applet as deliver } from "../applets/deliver.ts";
import { makeInstallApplet } from "../applets/install.ts";
import { applet as log } from "../applets/log.ts";
import { applet as maildirmake } from "../applets/maildirmake.ts";
import { applet as pop3d } from "../applets/pop3d.ts";
import { applet as popup } from "../applets/popup.ts";
import { applet as rules } from "../applets/rules.ts";
import { applet as serve } from "../applets/serve.ts";
import { applet as tai64n } from "../applets/tai64n.ts";
import { applet as tai64nlocal } from "../applets/tai64nlocal.ts";
import { applet as users } from "../applets/users.ts";
import { applet as conf } from "../applets/conf.ts";
import { applet as setuidgid } from "../applets/setuidgid.ts";
import { applet as envuidgid } from "../applets/envuidgid.ts";
import { applet as softlimit } from "../applets/softlimit.ts";
import { applet as envdir } from "../applets/envdir.ts";
import { applet as qmqpd } from "../applets/qmqpd.ts";
import { applet as doctor } from "../applets/doctor.ts";
import { applet as config } from "../applets/config.ts";
import { applet as routes } from "../applets/routes.ts";
import { applet as proxy } from "../applets/proxy.ts";

const install = makeInstallApplet(() => ({
  classic: ALIASES.filter((a) => a.classic).map((a) => a.name),
  generic: ALIASES.filter((a) => !a.classic).map((a) => a.name),
}));

export const APPLETS: readonly Applet[] = [
  serve, rules, popup, checkpassword, pop3d, log, tai64n, tai64nlocal,
  maildirmake, deliver, cdb, users, install,
  conf, setuidgid, envuidgid, softlimit, envdir, qmqpd, doctor, convert,
  routes, proxy, config,
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

export function findAlias(name: string): AppletAlias | undefined {
  return ALIASES.find((a) => a.name === name) ?? ARGUMENT_ONLY.find((a) => a.name === name);
}

export function findApplet(name: string): Applet | undefined {
  return APPLETS.find((a) => a.name === name);
}
