/**
 * What doctor learns from a service directory made by `poppin conf` (or by hand in the
 * same layout): its port, its rules, its env/ settings, and how it is supervised.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { serviceCommand } from "../conf/service_command.ts";
import { parseServeArgs, type ServeOptions } from "../serve/options.ts";
import { splitInlineArgs } from "../standalone/inline_main.ts";

export interface ServiceInfo {
  dir: string;
  kind: "daemontools" | "systemd";
  /** The port from run's "-- IP PORT" or the socket unit's ListenStream. */
  port?: number;
  /** systemd: the unit name (NAME.socket / NAME.service). */
  unit?: string;
  /** env/NAME files: what the chain gets through envdir. */
  env: Record<string, string>;
  /** serve's options and its program, from the run script or the unit (undefined when unreadable). */
  serve?: ServeOptions;
}

/** serve's options as the run script or unit gives them, or undefined. */
export function serveOptionsOf(dir: string): ServeOptions | undefined {
  try {
    const found = serviceCommand(dir, { PATH: process.env.PATH });
    const split = splitInlineArgs(found.args);
    if (typeof split === "string") return undefined;
    const parsed = parseServeArgs(split.rest, found.env);
    return parsed.kind === "ok" ? parsed.options : undefined;
  } catch {
    return undefined;
  }
}

function readEnvDir(dir: string): Record<string, string> {
  const env: Record<string, string> = {};
  let names: string[] = [];
  try { names = readdirSync(dir); } catch { return env; }
  for (const name of names) {
    if (name.startsWith(".")) continue;
    try { env[name] = readFileSync(join(dir, name), "utf8").split("\n")[0].replace(/[ \t]+$/, ""); } catch { /* unreadable: skipped */ }
  }
  return env;
}

export function inspectService(dir: string): ServiceInfo {
  const env = readEnvDir(join(dir, "env"));
  const socket = (() => { try { return readdirSync(dir).find((f) => f.endsWith(".socket")); } catch { return undefined; } })();
  if (socket && !existsSync(join(dir, "run"))) {
    const text = readFileSync(join(dir, socket), "utf8");
    const m = /^ListenStream=(?:.*:)?(\d+)\s*$/m.exec(text);
    return { dir, kind: "systemd", port: m ? Number(m[1]) : undefined, unit: socket.replace(/\.socket$/, ""), env, serve: serveOptionsOf(dir) };
  }
  // poppin conf's run script reads the port from env/PORT (qmail-conf's knob); older ones name it.
  const serve = serveOptionsOf(dir);
  if (/^[0-9]{1,5}$/.test(env.PORT ?? "")) return { dir, kind: "daemontools", port: Number(env.PORT), env, serve };
  let port: number | undefined;
  try {
    const m = / -- \S+ (\d+)\b/.exec(readFileSync(join(dir, "run"), "utf8"));
    if (m) port = Number(m[1]);
  } catch { /* no run: port from the options or 110 */ }
  return { dir, kind: "daemontools", port, env, serve };
}
