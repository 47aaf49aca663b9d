/**
 * The login, the same under every host: popup's AUTHORIZATION loop (servePopup, login_loop.ts)
 * with the login policy (allowed users, failure limits, clear-text and STLS rules, the
 * failure delay) and its log lines (runLogin), and checkpassword's decision on popup's
 * fd-3 data (checkLogin). The popup applet runs the decision in its own process before it
 * becomes the user (the one-process login); serve --inline runs it with crypt on a worker
 * pool and then serves the mailbox or starts the user's process. Either way the result is
 * what the classic chain's exit status would have said.
 */
import type { Account } from "../auth/account.ts";
import type { AuthEnvironment, AuthResult } from "../auth/authenticate.ts";
import { authConfigFromEnv, type AuthConfig } from "../auth/config.ts";
import { AccountRefused, AuthRefused, CHECKPASSWORD_MAX_DATA, MalformedRequest, accountRefusedLine, parseRequest, type CheckpasswordRequest } from "../auth/request.ts";
import { daysSinceEpoch } from "../auth/shadow_policy.ts";
import { PoppinError } from "../base/errors.ts";
import type { AuthFailure } from "../pop3/authorization.ts";
import { apopOffered } from "../pop3/config.ts";
import { logValue } from "../base/log_value.ts";
import { servePopup, type ChainResult, type PopupChannel, type PopupEnd, type PopupOptions } from "./login_loop.ts";
import { loginChecks } from "../policy/login_checks.ts";
import { loginPolicy } from "../policy/login_policy.ts";
import type { Policy } from "../policy/resolve.ts";

export interface LoginSpec {
  policy: Policy;
  /** The environment the chain gets (TCPREMOTEIP, SSL_PROTOCOL for implicit TLS, POPPIN_APOP...). */
  env: NodeJS.ProcessEnv;
  /** `<...@host>`: offered for APOP, passed on in the fd-3 data. */
  timestamp: string;
  /** STLS, when a certificate is loaded and the connection is not TLS already. */
  startTls?: () => Promise<PopupChannel>;
  /** The chain (or its in-process equivalent) for a login the policy admitted. */
  authenticate: PopupOptions["authenticate"];
  /** The password check's cost for a login the policy refused. */
  decoy: PopupOptions["decoy"];
  /** One warning line of popup's (without its prefix). */
  warn(text: string): void;
  /** Told about each failed login (the host's counters). */
  failed?(failure: AuthFailure): void;
  /** SCRAM's stored keys (a user database that has them). */
  scramKeys?: PopupOptions["scramKeys"];
  /** Bearer tokens (OAUTHBEARER, XOAUTH2) can be checked: starts their exchange (see SaslHost). */
  bearer?: PopupOptions["bearer"];
}

/** popup's AUTHORIZATION state on `channel`, with the policy's rules; how it ended. */
export async function runLogin(channel: PopupChannel, spec: LoginSpec): Promise<PopupEnd> {
  const { policy, env } = spec;
  const remoteIp = env.TCPREMOTEIP ?? "unknown";
  const checks = loginChecks(policy, remoteIp);
  const end = await servePopup(channel, {
    timestamp: spec.timestamp,
    offerApop: policy.apop ?? apopOffered(env),
    policy: loginPolicy(policy, remoteIp, spec.startTls !== undefined),
    tls: (env.SSL_PROTOCOL ?? "") !== "",
    startTls: spec.startTls,
    failureDelayMs: policy.failureDelayMs,
    admit: checks.admit,
    decoy: spec.decoy,
    authenticate: spec.authenticate,
    onFailure(user, failure, detail, mechanism) {
      spec.failed?.(failure);
      spec.warn(checks.failed(user, failure, detail, mechanism));
    },
    scramKeys: spec.scramKeys,
    bearer: spec.bearer,
  });
  const rip = logValue(remoteIp);
  if (end === "tls-failed") spec.warn(`TLS negotiation failed rip=${rip}`);
  if (end === "tls-on-plain") spec.warn(`TLS handshake on the plain port, dropped rip=${rip}`);
  return end;
}

export type LoginResult = { kind: "ok"; account: Account } | Extract<ChainResult, { kind: "failed" }>;

export interface CheckLoginSpec {
  /** checkpassword's --userdb=FILE. */
  userdbOption: string | undefined;
  /** "checkpassword" or "poppin checkpassword": the prefix of its fatal lines and the failure detail. */
  checkpasswordPrefix: string;
  /** checkpassword as the chain names it (programLabel), for the failure's `exit N`. */
  checkpasswordLabel: string;
  euid: number;
  /** mod/auth's authenticate(), in this thread or with crypt on a worker pool. */
  decide(request: CheckpasswordRequest, config: AuthConfig, env: Omit<AuthEnvironment, "crypt">): AuthResult | Promise<AuthResult>;
  /** What checkpassword does after the password (become the user, enter the home), or checks it could. */
  enter(account: Account): void;
  /** One finished log line. */
  log(line: string): void;
}

/** Checks popup's fd-3 data (`user\0password\0timestamp\0`, wiped afterwards) as checkpassword would. */
export async function checkLogin(data: Uint8Array, env: NodeJS.ProcessEnv, spec: CheckLoginSpec): Promise<LoginResult> {
  const who = spec.checkpasswordPrefix;
  const program = spec.checkpasswordLabel;
  try {
    // checkpassword reads at most 512 octets and refuses more (exit 1).
    if (data.length > CHECKPASSWORD_MAX_DATA) return { kind: "failed", failure: "rejected", detail: `${program} exit 1` };
    const config = authConfigFromEnv(env, spec.userdbOption);
    const result = await spec.decide(parseRequest(data), config, { euid: spec.euid, today: daysSinceEpoch(new Date()) });
    spec.enter(result.account);
    return { kind: "ok", account: result.account };
  } catch (err) {
    // As checkpassword itself: a policy's refusal of a right password gets its line (same words in every host).
    if (err instanceof AccountRefused) spec.log(`${who}: warning: ${accountRefusedLine(err, env.TCPREMOTEIP)}\n`);
    if (err instanceof AuthRefused) return { kind: "failed", failure: "rejected", detail: `${program} exit 1` };
    if (err instanceof MalformedRequest) return { kind: "failed", failure: "temporary", detail: `${program} exit ${err.exitCode}` };
    if (err instanceof PoppinError) {
      spec.log(`${who}: fatal: ${err.message}\n`);
      return { kind: "failed", failure: "temporary", detail: `${program} exit ${err.exitCode}` };
    }
    spec.log(`${who}: fatal: ${(err as Error)?.message ?? String(err)}\n`);
    return { kind: "failed", failure: "temporary", detail: `${program} exit 111` };
  } finally {
    data.fill(0);
  }
}
