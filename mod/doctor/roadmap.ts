/** The whole checklist in the Q-cards' order, from the options doctor was given. */
import { ENV } from "../base/env.ts";
import { basename, join } from "node:path";
import { isPoppinName } from "../base/self_name.ts";
import { authConfigFromEnv } from "../auth/config.ts";
import { checkHome, checkListener, checkMemoryLimit, checkMaildir, checkPassword, checkRules, checkSupervisor, findUser } from "./checks.ts";
import { pop3Probe } from "./pop3_probe.ts";
import { checkCertificate } from "./certificate.ts";
import { withS6Status } from "./supervise_status.ts";
import { resolvePolicy } from "../policy/resolve.ts";
import { failure, pass, type CheckResult } from "./report.ts";
import { inspectService } from "./service.ts";
import { checkLogDirectory, checkLogger, checkSpool, checkUserdbAccess, runAccount } from "./setup_checks.ts";
import { parsePop3dArgs } from "../session/pop3d_args.ts";
import { selfResolver } from "../serve/chain_spec.ts";
import { checkChain } from "../serve/chain_check.ts";

export interface DoctorOptions {
  user?: string;
  serviceDir?: string;
  port?: number;
  rules?: string;
  userdb?: string;
  /** Asked only when a user is checked; undefined when none could be read. */
  password: () => Uint8Array | undefined;
  env: NodeJS.ProcessEnv;
  run: (cmd: string[]) => { code: number; out: string };
  /** The clock the certificate's dates are checked against. */
  now?: () => Date;
}

/** The certificate and key the service's chain is given (CERTFILE/KEYFILE or its config file), if any. */
function certificateFiles(env: NodeJS.ProcessEnv): { certFile: string; keyFile: string | undefined } | undefined {
  try {
    const { policy } = resolvePolicy([], env);
    return policy.certFile ? { certFile: policy.certFile, keyFile: policy.keyFile || undefined } : undefined;
  } catch {
    // An unreadable config file: the config check above says so.
    return env.CERTFILE ? { certFile: env.CERTFILE, keyFile: env.KEYFILE || undefined } : undefined;
  }
}

export const DEFAULT_PORT = 110;

export async function runRoadmap(opts: DoctorOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const info = opts.serviceDir ? inspectService(opts.serviceDir) : undefined;
  const port = opts.port ?? info?.port ?? DEFAULT_PORT;
  results.push(checkListener(port, info));
  const memory = info ? checkMemoryLimit(info.dir) : undefined;
  if (memory !== undefined) results.push(memory);

  const cdb = opts.rules ?? (info ? join(info.dir, "tcp.cdb") : undefined);
  if (cdb) {
    const source = cdb.endsWith(".cdb") ? cdb.slice(0, -4) : undefined;
    results.push(...checkRules(cdb, source, info?.dir ?? "the rules' directory", !runsQmqpd(info?.serve?.program)));
  }

  // The chain's settings: the service's env/ first (what envdir gives it), then ours.
  const env = { ...opts.env, ...(info?.env ?? {}) };
  if (opts.userdb) env[ENV.userdb.name] = opts.userdb;
  const config = authConfigFromEnv(env);
  // What pop3d is given: the service's own command line (Maildir name, or an mbox spool).
  const chain = info?.serve ? checkChain(info.serve.program, env, selfResolver(process.execPath, env.PATH)) : undefined;
  const pop3dArgs = chain?.pop3d?.args ?? (() => {
    // Not our chain (or no service): the knobs conf writes, MAILDIRNAME and SPOOLDIR.
    const parsed = parsePop3dArgs([...(env.SPOOLDIR ? [`--spool-dir=${env.SPOOLDIR}`] : []), env.MAILDIRNAME || "Maildir"], env);
    return typeof parsed === "string" ? undefined : parsed;
  })();
  if (chain !== undefined && info !== undefined) {
    results.push(chain.problems.length === 0
      ? pass("config", `the chain's configuration checks out (poppin config ${info.dir} lists it).`)
      : failure("config", `serve refuses to start with this configuration: ${chain.problems.join("; ")}.`, `fix it, then svc -t ${info.dir} (poppin config ${info.dir} shows every value and where it came from).`));
  }
  if (info !== undefined) {
    const tls = certificateFiles(env);
    if (tls !== undefined) results.push(checkCertificate(tls.certFile, tls.keyFile, (opts.now ?? (() => new Date()))()));
  }
  const account = info ? runAccount(info) : undefined;
  if (account !== undefined && config.userdb !== undefined) results.push(checkUserdbAccess(config.userdb, account));
  if (opts.user !== undefined) {
    const { user, result } = findUser(opts.user, config);
    results.push(result);
    if (user) {
      results.push(checkHome(user));
      if (pop3dArgs?.isMbox) results.push(checkSpool(user, pop3dArgs.mailbox, pop3dArgs.mbox));
      else results.push(checkMaildir(user, pop3dArgs?.mailbox ?? "Maildir"));
    }
    const password = opts.password();
    const checked = checkPassword(opts.user, password, config);
    results.push(checked);
    if (password && password.length > 0) {
      // A pop3s service (serve --tls) speaks TLS from the first byte.
      const tls = info?.serve?.tls ?? false;
      const what = `a POP3${tls ? "S (TLS)" : ""} session on 127.0.0.1:${port}`;
      const probe = await pop3Probe("127.0.0.1", port, opts.user, password, 10_000, tls);
      results.push(probe.ok
        ? pass("session", `${what}: ${probe.detail}.`)
        : failure("session", `${what} failed: ${probe.detail}.`, sessionFix(probe.step, results)));
      password.fill(0);
    }
  }
  // svstat, or s6-svstat for a directory s6-svscan runs.
  const run = withS6Status(opts.run);
  if (info) results.push(...checkSupervisor(info, run));
  if (info?.kind === "daemontools") {
    const logDir = checkLogDirectory(info);
    if (logDir !== undefined) results.push(logDir);
    results.push(await checkLogger(info, run));
  }
  return results;
}

/** The likeliest cause, from the step that failed and the checks above it. */
function sessionFix(step: string, earlier: readonly CheckResult[]): string {
  const bad = earlier.find((r) => !r.ok);
  if (bad) return `fix the ${bad.id} check above first.`;
  if (step === "connect") return "start the service and make sure it listens on 127.0.0.1.";
  if (step === "greeting") return "the rules or the server dropped the connection: read the service's log.";
  if (step === "PASS") return "the chain refused the login: check the checkpassword program named in the run script and the service's env/.";
  return "read the service's log for the error the server gave.";
}

/** Whether serve's program is qmqpd (qmail-qmqpd, qmqpd, poppin qmqpd): a QMQP service, not POP3. */
function runsQmqpd(program: readonly string[] | undefined): boolean {
  const first = basename(program?.[0] ?? "");
  return first === "qmail-qmqpd" || first === "qmqpd" || (program?.[1] === "qmqpd" && isPoppinName(first));
}
