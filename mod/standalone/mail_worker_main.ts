/**
 * serve --inline's mail workers, as its main sets them up: a pool when serve is still root
 * after its start (system users' sessions), sized by POPPIN_MAIL_WORKERS; and their
 * figures for --metrics.
 */
import type { AppletContext } from "../cli/context.ts";
import { MailWorkerPool, mailWorkerCount, type MailWorkerFigures } from "./mail_worker_pool.ts";

/** The pool, filled now; undefined when not root or POPPIN_MAIL_WORKERS=0. */
export function startMailWorkers(euid: number, ctx: AppletContext, pop3dPrefix: string, log: (line: string) => void, execPath: string = ctx.execPath): MailWorkerPool | undefined {
  if (euid !== 0) return undefined;
  const size = mailWorkerCount(ctx.env);
  if (size === 0) return undefined;
  const pool = new MailWorkerPool(execPath, size, pop3dPrefix, log);
  pool.fill();
  return pool;
}

/** The pool's figures in Prometheus text (appended to serve's own). */
export function mailWorkerMetrics(f: MailWorkerFigures): string {
  const lines: string[] = [];
  const metric = (name: string, type: "gauge" | "counter", help: string, value: number) => lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
  metric("poppin_mail_workers_idle", "gauge", "Mail workers waiting for a session (root, having read nothing from a client).", f.idle);
  metric("poppin_mail_workers_kept", "gauge", "Mail workers that served a user, waiting for that user's next session.", f.kept);
  metric("poppin_mail_workers_busy", "gauge", "Mail workers serving a session as its user.", f.busy);
  metric("poppin_mail_workers_started_total", "counter", "Mail workers started.", f.started);
  metric("poppin_mail_workers_handed_total", "counter", "Sessions handed to a waiting mail worker.", f.handed);
  metric("poppin_mail_workers_reused_total", "counter", "Sessions handed to the worker that served the same user before.", f.reused);
  metric("poppin_mail_workers_died_idle_total", "counter", "Mail workers that ended while waiting (replaced).", f.diedIdle);
  metric("poppin_mail_worker_fallbacks_total", "counter", "Sessions that found no waiting mail worker and got a process started for them.", f.fallbacks);
  return lines.join("\n") + "\n";
}
