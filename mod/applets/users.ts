import type { Applet } from "../cli/applet.ts";
import { warning } from "../cli/context.ts";
import { EXIT_OK, PermError, TempError, UsageError } from "../base/errors.ts";
import { writeStderr, writeStdout } from "../base/io.ts";
import { defaultSecretSource } from "../auth/secret_input.ts";
import { parseUsersArgs, USERS_USAGE } from "../auth/users_args.ts";
import { existsSync } from "node:fs";
import type { AppletContext } from "../cli/context.ts";
import type { UsersCommand } from "../auth/users_args.ts";
import { storedLogin, cdbLikeText, groupId, shareWithGroup,
  addUser, compileUserFile, deleteUser, findUser, loadUserFile, saveUserFile, storePaths, updateUser, withStoreLock,
} from "../auth/user_store.ts";
import { hashPassword } from "../sys/crypt.ts";
import { makeScramKeys } from "../sasl/scram_keys.ts";

/** Reads a secret and returns it as text for the file (a newline cannot be in a line read). */
function secretText(bytes: Uint8Array): string {
  const text = Buffer.from(bytes).toString("utf8");
  bytes.fill(0);
  return text;
}

/**
 * `poppin users`: the virtual-user file (`login:hash:uid:gid:home[:apop-secret]`) and
 * its cdb. Every change takes FILE.lock and rewrites FILE and FILE.cdb atomically;
 * passwords and secrets come from the terminal (no echo) or stdin lines, never argv.
 */
export const applet: Applet = {
  name: "users",
  summary: "manage the virtual-user database for checkpassword (add, passwd, apop, del, list, compile)",
  usage: USERS_USAGE,
  async run(args, ctx) {
    const parsed = parseUsersArgs(args, ctx.env);
    const paths = storePaths(parsed.file);
    const gid = parsed.group === undefined ? undefined : groupId(parsed.group);
    const cdbExisted = existsSync(paths.cdb);
    const code = await change(parsed, ctx);
    if (parsed.command !== "list") {
      cdbLikeText(paths, cdbExisted);
      if (gid !== undefined) shareWithGroup(paths, gid);
    }
    return code;
  },
};

/** The command itself; run() then applies --group and the new cdb's mode. */
async function change(parsed: UsersCommand, ctx: AppletContext): Promise<number> {
  const paths = storePaths(parsed.file);
  const secrets = () => defaultSecretSource(writeStderr);
  // Only add makes the file: a mistyped -f or POPPIN_USERDB must not list nothing, compile an
  // empty cdb or say "no such user" as if the database had been read.
  if (parsed.command !== "add" && !existsSync(paths.text)) {
    throw new TempError(`unable to read ${paths.text}: file does not exist (poppin users -f ${paths.text} add ... makes it)`);
  }
  switch (parsed.command) {
    case "list": {
      const file = loadUserFile(paths.text);
      const out = file.lines.flatMap(({ user }) =>
        user ? [`${user.login}\t${user.uid}\t${user.gid}\t${user.home}${user.apopSecret === undefined ? "" : "\tapop"}${user.scram === undefined ? "" : "\tscram"}\n`] : []);
      writeStdout(out.join(""));
      return EXIT_OK;
    }
    case "compile":
      return withStoreLock(paths, () => {
        compileUserFile(loadUserFile(paths.text), paths.cdb);
        return EXIT_OK;
      });
    case "add": {
      const { login, uid, gid, home } = parsed;
      if (uid === 0) warning(ctx, `uid 0 for ${login}: checkpassword refuses it unless POPPIN_MIN_UID=0`);
      const source = secrets();
      const password = source.next("password: ");
      if (password.length === 0) throw new PermError("empty password refused");
      const hash = hashPassword(password, parsed.hashKind);
      const scram = makeScramKeys(password);
      password.fill(0);
      const apopSecret = parsed.apop ? secretText(source.next("APOP secret: ")) : undefined;
      if (apopSecret === "") throw new PermError("empty APOP secret refused");
      return withStoreLock(paths, () => {
        const file = loadUserFile(paths.text);
        addUser(file, { login, hash, uid, gid, home, apopSecret, scram });
        saveUserFile(file, paths);
        return EXIT_OK;
      });
    }
    case "passwd": {
      const login = storedLogin(loadUserFile(paths.text), parsed.login);
      if (!findUser(loadUserFile(paths.text), login)) throw new PermError(`no such user: ${parsed.login}`);
      const password = secrets().next("new password: ");
      if (password.length === 0) throw new PermError("empty password refused");
      const hash = hashPassword(password, parsed.hashKind);
      const scram = makeScramKeys(password);
      password.fill(0);
      return withStoreLock(paths, () => {
        const file = loadUserFile(paths.text);
        updateUser(file, login, (user) => {
          user.hash = hash;
          user.scram = scram;
        });
        saveUserFile(file, paths);
        return EXIT_OK;
      });
    }
    case "apop": {
      const login = storedLogin(loadUserFile(paths.text), parsed.login);
      if (!findUser(loadUserFile(paths.text), login)) throw new PermError(`no such user: ${parsed.login}`);
      const secret = secretText(secrets().next("APOP secret (empty removes it): "));
      return withStoreLock(paths, () => {
        const file = loadUserFile(paths.text);
        updateUser(file, login, (user) => { user.apopSecret = secret === "" ? undefined : secret; });
        saveUserFile(file, paths);
        return EXIT_OK;
      });
    }
    case "del":
      return withStoreLock(paths, () => {
        const file = loadUserFile(paths.text);
        deleteUser(file, storedLogin(file, parsed.login));
        saveUserFile(file, paths);
        return EXIT_OK;
      });
  }
  throw new UsageError(USERS_USAGE);
}
