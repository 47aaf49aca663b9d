/**
 * The decision of checkpassword: which account, and whether this password (or APOP
 * digest) opens it. Returns the account or throws AuthRefused (exit 1) / TempError
 * (exit 111). Every attempt that is not a correct APOP digest costs one crypt call,
 * and the refusals that do not depend on the password come after it, so timing
 * tells neither whether the login exists nor why it was refused.
 */
import type { Account } from "./account.ts";
import { homeInsideByName } from "./home_base.ts";
import { isLockedHash, VIRTUAL_SHELL } from "./account.ts";
import { looksLikeApopDigest, lookupApopSecretFile, verifyApop } from "./apop.ts";
import type { AuthConfig } from "./config.ts";
import { AccountRefused, AuthRefused, type CheckpasswordRequest } from "./request.ts";
import { lookupSystemAccount, NSS, type SystemDatabases } from "./system_accounts.ts";
import { lookupVirtualUser } from "./userdb.ts";
import { checkHash, completeDecoys, systemCrypt, type CryptFunction } from "./verify.ts";
import { parseScramForm, verifyScramForm } from "../sasl/scram_form.ts";
import { decoyKeys, type ScramKeySet } from "../sasl/scram_keys.ts";

export interface AuthEnvironment {
  /** Our effective uid: 0 may switch to the account; anyone else only admits its own uid. */
  euid: number;
  /** Days since 1970-01-01, for shadow expiry. */
  today: number;
  crypt?: CryptFunction;
  system?: SystemDatabases;
}

/** The successful account plus how it was proven. */
export interface AuthResult {
  account: Account;
  method: "password" | "apop" | "scram" | "bearer";
}

function findAccount(login: Uint8Array, config: AuthConfig, env: AuthEnvironment): { account?: Account; apopSecret?: Uint8Array; scram?: ScramKeySet } {
  if (config.userdb !== undefined) {
    const user = lookupVirtualUser(config.userdb, login);
    if (!user) return {};
    return {
      account: { login: user.login, uid: user.uid, gid: user.gid, home: user.home, shell: VIRTUAL_SHELL, hash: user.hash, source: "virtual" },
      apopSecret: user.apopSecret === undefined ? undefined : Buffer.from(user.apopSecret, "utf8"),
      scram: user.scram,
    };
  }
  const account = lookupSystemAccount(login, { today: env.today, shadowFile: config.shadowFile }, env.system ?? NSS);
  return { account };
}

function apopSecretFor(login: Uint8Array, found: { account?: Account; apopSecret?: Uint8Array }, config: AuthConfig, euid: number): Uint8Array | undefined {
  if (!found.account) return undefined;
  if (found.account.source === "virtual") return found.apopSecret;
  return config.apopSecretsFile === undefined ? undefined : lookupApopSecretFile(config.apopSecretsFile, login, euid);
}

/** Why a matching account may still not log in (checked only after the password). */
function policyRefusal(account: Account, config: AuthConfig, euid: number): string | undefined {
  if (account.refusal) return account.refusal;
  if (account.source === "system" && account.uid < config.minUid) return `uid ${account.uid} below POPPIN_MIN_UID ${config.minUid}`;
  if (account.source === "virtual" && account.uid === 0 && config.minUid > 0) return "uid 0 refused";
  // By its words only: where its links lead is checked by the user's own process (home_base.ts).
  if (account.source === "virtual" && config.homeBase !== undefined && !homeInsideByName(account.home, config.homeBase)) {
    return `home ${account.home} is outside POPPIN_HOME_BASE ${config.homeBase}`;
  }
  if (euid !== 0 && account.uid !== euid) return `uid ${account.uid} is not ours (${euid}) and we are not root`;
  return undefined;
}

/**
 * Names no account can have that could only be an attack on a path or a log line: empty,
 * a '/', '..', control characters (NUL cannot arrive: it ends the field on fd 3). Refused
 * before any database or file is looked at.
 */
export function loginRefusal(login: Uint8Array): string | undefined {
  if (login.length === 0) return "empty login";
  for (let i = 0; i < login.length; i++) if (login[i]! < 0x20 || login[i] === 0x7f) return "control character in the login";
  if (login.includes(0x2f)) return "'/' in the login";
  for (let i = 0; i + 1 < login.length; i++) if (login[i] === 0x2e && login[i + 1] === 0x2e) return "'..' in the login";
  return undefined;
}

/**
 * APOP is tried when the caller sent a timestamp, the password field is a 32-digit
 * lowercase hex digest and the account has an APOP secret. When that check fails the
 * field is still tried as a password (a password may look like a digest), so the
 * attempt costs a crypt call like any other.
 */
export function authenticate(request: CheckpasswordRequest, config: AuthConfig, env: AuthEnvironment): AuthResult {
  const crypt = env.crypt ?? systemCrypt;
  const badName = loginRefusal(request.login);
  if (badName !== undefined) {
    checkHash(request.password, undefined, crypt); // the same cost as any other refusal
    throw new AuthRefused(badName);
  }
  const found = findAccount(request.login, config, env);
  const account = found.account;
  let method: AuthResult["method"] | undefined;
  const usable = account !== undefined && !isLockedHash(account.hash);
  const scram = parseScramForm(request.password);
  if (scram !== undefined) {
    // A SCRAM exchange popup ran (mod/sasl/scram_form.ts): checked against the stored keys,
    // or decoy keys for a user without them, at the same cost; no crypt call, no fallback.
    const keys = found.scram?.[scram.hash];
    const login = Buffer.from(request.login).toString("utf8");
    const proven = verifyScramForm(scram, keys ?? decoyKeys(scram.hash, login), request.timestamp);
    if (account === undefined || !usable || keys === undefined || !proven) throw new AuthRefused("wrong password or unknown user");
    const refusal = policyRefusal(account, config, env.euid);
    if (refusal !== undefined) throw new AccountRefused(refusal, request.login);
    return { account, method: "scram" };
  }
  if (usable && request.timestamp.length > 0 && looksLikeApopDigest(request.password)) {
    const secret = apopSecretFor(request.login, found, config, env.euid);
    if (secret !== undefined) {
      if (verifyApop(request.timestamp, secret, request.password)) method = "apop";
      secret.fill(0);
    }
  }
  if (method === undefined && checkHash(request.password, account?.hash, crypt)) method = "password";
  found.apopSecret?.fill(0);
  if (account === undefined || method === undefined) throw new AuthRefused("wrong password or unknown user");
  const refusal = policyRefusal(account, config, env.euid);
  if (refusal !== undefined) {
    // A right password refused by a policy costs what a wrong one does: no oracle for refused accounts.
    completeDecoys(request.password, method === "password" ? account.hash : undefined, crypt);
    throw new AccountRefused(refusal, request.login);
  }
  return { account, method };
}

/**
 * The account of a login whose proof was checked elsewhere (a bearer token, mod/auth/
 * bearer_login.ts): found and refused by the same rules as after a password.
 */
export function authenticateProven(login: Uint8Array, config: AuthConfig, env: AuthEnvironment, method: AuthResult["method"]): AuthResult {
  const badName = loginRefusal(login);
  if (badName !== undefined) throw new AuthRefused(badName);
  const found = findAccount(login, config, env);
  found.apopSecret?.fill(0);
  const account = found.account;
  if (account === undefined || isLockedHash(account.hash)) throw new AuthRefused("unknown user or locked account");
  const refusal = policyRefusal(account, config, env.euid);
  if (refusal !== undefined) throw new AccountRefused(refusal, login);
  return { account, method };
}
