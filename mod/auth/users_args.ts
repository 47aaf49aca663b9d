/** Arguments of `poppin users` (see mod/applets/users.ts). */
import { ENV, envValue } from "../base/env.ts";
import { UsageError } from "../base/errors.ts";
import type { NewHashKind } from "../sys/crypt.ts";
import { validLogin } from "./userdb_text.ts";
import { prepareUsername, usernameRefusal } from "./username.ts";

/** --group: the files' group (name or number), mode 0640, so a service's account in it can read them. */
type Common = { file: string; group?: string };

export type UsersCommand =
  | Common & { command: "list" | "compile" }
  | Common & { command: "passwd"; login: string; hashKind: NewHashKind }
  | Common & { command: "apop" | "del"; login: string }
  | Common & { command: "add"; login: string; uid: number; gid: number; home: string; apop: boolean; hashKind: NewHashKind };

export const USERS_USAGE =
  "users [-f FILE] [--group GROUP] add [--apop] [--sha512|--yescrypt] LOGIN UID GID HOME | passwd [--sha512|--yescrypt] LOGIN | apop LOGIN | del LOGIN | list | compile";

function id(text: string | undefined, what: string): number {
  if (text === undefined || !/^[0-9]{1,10}$/.test(text) || Number(text) > 0xfffffffe) throw new UsageError(`${what} must be a number`);
  return Number(text);
}

/** A login for `add`: stored as RFC 8265 prepares it (lower case, NFC), so every spelling finds it. */
function newLogin(text: string | undefined): string {
  if (text === undefined) throw new UsageError(USERS_USAGE);
  const refusal = usernameRefusal(text);
  if (refusal !== undefined) throw new UsageError(`bad login ${JSON.stringify(text)}: ${refusal}`);
  return login(prepareUsername(text));
}

function login(text: string | undefined): string {
  if (text === undefined) throw new UsageError(USERS_USAGE);
  if (!validLogin(text)) throw new UsageError(`bad login ${JSON.stringify(text)}: no ':', newline, NUL or leading '#'`);
  return text;
}

/** FILE: -f FILE / --file=FILE, else $POPPIN_USERDB (a `.cdb` name means the text file beside it). */
export function parseUsersArgs(args: readonly string[], env: NodeJS.ProcessEnv): UsersCommand {
  let file = envValue(env, ENV.userdb);
  let apop = false;
  let hashKind: NewHashKind = "yescrypt";
  let group: string | undefined;
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "-f" || a === "--file") {
      file = args[++i];
      if (file === undefined) throw new UsageError(USERS_USAGE);
    } else if (a.startsWith("--file=")) file = a.slice(7);
    else if (a === "--group") {
      group = args[++i];
      if (group === undefined || group === "") throw new UsageError(USERS_USAGE);
    } else if (a.startsWith("--group=")) group = a.slice(8);
    else if (a === "--apop") apop = true;
    else if (a === "--sha512") hashKind = "sha512";
    else if (a === "--yescrypt") hashKind = "yescrypt";
    else if (a === "--") rest.push(...args.slice(i + 1)), (i = args.length);
    else if (a.startsWith("-") && a !== "-") throw new UsageError(`unknown option ${a}`);
    else rest.push(a);
  }
  if (file === undefined || file === "") throw new UsageError(`no user file: give -f FILE or set ${ENV.userdb.name}`);
  const [command, ...more] = rest;
  const expect = (n: number) => {
    if (more.length !== n) throw new UsageError(USERS_USAGE);
  };
  switch (command) {
    case "list":
    case "compile":
      expect(0);
      return { command, file, group };
    case "passwd":
      expect(1);
      return { command, file, group, login: login(more[0]), hashKind };
    case "apop":
    case "del":
      expect(1);
      return { command, file, group, login: login(more[0]) };
    case "add": {
      expect(4);
      const home = more[3];
      if (!home.startsWith("/") || /[:\n\0]/.test(home)) throw new UsageError(`HOME must be an absolute path without ':'`);
      return { command, file, group, login: newLogin(more[0]), uid: id(more[1], "UID"), gid: id(more[2], "GID"), home, apop, hashKind };
    }
    default:
      throw new UsageError(USERS_USAGE);
  }
}
