/**
 * `poppin config`'s listing: the effective configuration of a service, one
 * `program.setting = value  # origin` line each, where origin is "default", a config
 * file and line, an environment variable or the command line (as `doveconf -n` shows
 * Dovecot's, with the source added).
 */
import { OPTION_SPECS } from "../policy/options.ts";
import { DEFAULT_BACKLOG, DEFAULT_LIMIT, type ServeOptions } from "./options.ts";
import type { ChainCheck } from "./chain_check.ts";

export interface ListingLine {
  key: string;
  value: string;
  origin: string;
}

/** Quotes a value the way the config file would need it (spaces at the ends, #, quotes). */
function shown(value: string): string {
  return /^\s|\s$|#|"|^$/.test(value) ? JSON.stringify(value) : value;
}

function serveLines(o: ServeOptions, inline: boolean): ListingLine[] {
  const cmd = (key: string, value: string, isDefault: boolean): ListingLine => ({ key: `serve.${key}`, value, origin: isDefault ? "default" : "command line" });
  return [
    cmd("mode", inline ? "inline" : "classic", !inline),
    o.systemd ? cmd("listen", "systemd socket (LISTEN_FDS)", false) : cmd("listen", `${o.host} ${o.port}`, false),
    cmd("tls", o.tls ? "implicit (CERTFILE, KEYFILE)" : "no", !o.tls),
    cmd("concurrency", String(o.limit), o.limit === DEFAULT_LIMIT),
    cmd("per-ip", o.perIp === 0 ? "no limit" : String(o.perIp), o.perIp === 0),
    cmd("backlog", String(o.backlog), o.backlog === DEFAULT_BACKLOG),
    cmd("rules", o.rulesPath ?? "none: everyone allowed", o.rulesPath === undefined),
    cmd("uid", String(o.uid), o.uid === 0),
    cmd("gid", String(o.gid), o.gid === 0),
    cmd("proxy", o.proxy ? `from ${o.proxyFrom.join(",") || "rules with PROXY_TRUSTED"}` : "no", !o.proxy),
  ];
}

function chainLines(check: ChainCheck): ListingLine[] {
  const out: ListingLine[] = [];
  const { popup, checkpassword, pop3d } = check;
  if (popup !== undefined) {
    out.push({ key: "popup.program", value: popup.prefix, origin: "command line" });
    out.push({ key: "popup.hostname", value: popup.hostname ?? "(missing)", origin: "command line" });
    const resolved = popup.resolved;
    if (resolved !== undefined) {
      out.push({ key: "popup.config-file", value: resolved.configFile ?? "none", origin: resolved.origins.get("config-file") ?? "default" });
      for (const spec of OPTION_SPECS) {
        if (spec.name === "config-file") continue;
        const value = resolved.settings.get(spec.name) ?? spec.fallback;
        out.push({ key: `popup.${spec.name}`, value, origin: resolved.origins.get(spec.name) ?? "default" });
      }
    }
  }
  if (checkpassword !== undefined) {
    const c = checkpassword.config;
    out.push({ key: "checkpassword.program", value: checkpassword.prefix, origin: "command line" });
    out.push({ key: "checkpassword.accounts", value: c?.userdb === undefined ? "system (/etc/passwd, /etc/shadow)" : `virtual: ${c.userdb}`, origin: checkpassword.userdbOrigin ?? "default" });
    out.push({ key: "checkpassword.min-uid", value: String(c?.minUid ?? ""), origin: checkpassword.minUidOrigin });
    if (c?.homeBase !== undefined) out.push({ key: "checkpassword.home-base", value: c.homeBase, origin: "environment POPPIN_HOME_BASE" });
    if (c?.apopSecretsFile !== undefined) out.push({ key: "checkpassword.apop-secrets", value: c.apopSecretsFile, origin: "environment POPPIN_APOP_SECRETS" });
  }
  if (pop3d !== undefined) {
    out.push({ key: "pop3d.program", value: pop3d.prefix, origin: "command line" });
    if (pop3d.args !== undefined) {
      out.push({ key: "pop3d.mailbox", value: pop3d.args.mailbox, origin: "command line" });
      out.push({ key: "pop3d.compat", value: pop3d.args.compat, origin: pop3d.compatOrigin });
      if (pop3d.args.isMbox) {
        const m = pop3d.args.mbox;
        out.push({ key: "pop3d.spool-dir", value: m.layout.spoolDir, origin: "command line or default" });
        if (m.layout.homeDirMail !== undefined) out.push({ key: "pop3d.home-dir-mail", value: m.layout.homeDirMail, origin: "command line" });
        out.push({ key: "pop3d.lock", value: m.lockMethods.join(","), origin: "command line or default" });
        out.push({ key: "pop3d.update", value: m.update, origin: "command line or default" });
        if (m.uidlFormat !== undefined) out.push({ key: "pop3d.uidl-format", value: m.uidlFormat, origin: "command line" });
      }
    }
  }
  if (check.foreign !== undefined) out.push({ key: "chain.unchecked", value: check.foreign, origin: "not checked" });
  return out;
}

/** Settings that `poppin conf`'s run script takes from an env/ file (qmail-conf's knobs). */
export const KNOB_FILES: Readonly<Record<string, readonly string[]>> = {
  "serve.listen": ["IP", "PORT"],
  "serve.concurrency": ["CONCURRENCY"],
  "serve.backlog": ["BACKLOG"],
  "popup.hostname": ["POPUPHOST"],
  "pop3d.mailbox": ["MAILDIRNAME"],
  "pop3d.spool-dir": ["SPOOLDIR"],
};

/**
 * The listing; `changedOnly` leaves out what is at its default (doveconf -n). `knobs`: the
 * env/ files of a service directory that are set (name -> path), so a value its run script
 * took from one says so.
 */
export function configListing(serve: { options: ServeOptions; inline: boolean } | undefined, check: ChainCheck, changedOnly: boolean, knobs: ReadonlyMap<string, string> = new Map()): string {
  const lines = [...(serve === undefined ? [] : serveLines(serve.options, serve.inline)), ...chainLines(check)]
    .map((l) => {
      const files = (KNOB_FILES[l.key] ?? []).flatMap((name) => knobs.get(name) ?? []);
      if (files.length > 0 && l.origin !== "default") return { ...l, origin: files.join(", ") };
      // "environment CERTFILE" that the service's env/CERTFILE set: name the file.
      const variable = /^environment (\S+)$/.exec(l.origin)?.[1];
      const file = variable === undefined ? undefined : knobs.get(variable);
      return file === undefined ? l : { ...l, origin: file };
    })
    .filter((l) => !changedOnly || l.origin !== "default");
  const width = Math.min(48, Math.max(0, ...lines.map((l) => l.key.length + 3 + shown(l.value).length)));
  return lines.map((l) => {
    const text = `${l.key} = ${shown(l.value)}`;
    return `${text.padEnd(width)}  # ${l.origin}\n`;
  }).join("");
}
