/**
 * The serve command line of a service directory made by `poppin conf`: the `exec` line of
 * DIR/run (daemontools) or ExecStart= of DIR/NAME.service (systemd), split into words as
 * /bin/sh would split them, with `$VAR` taken from DIR/env (envdir) and `sh -c '...'`
 * looked into. Enough for the files conf writes; not a shell.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { TempError, describeSysError } from "../base/errors.ts";
import { readEnvdir } from "../daemontools/envdir.ts";
import { isPoppinName } from "../base/self_name.ts";
import { sgetopt } from "../daemontools/sgetopt.ts";

/** What is wrong with `dir` as a service directory ("unable to read service directory DIR: WHY"), or undefined when it is a directory. */
export function serviceDirectoryProblem(dir: string): string | undefined {
  let why: string | undefined;
  try {
    if (!statSync(dir).isDirectory()) why = "not a directory";
  } catch (e) {
    why = describeSysError(e);
  }
  return why === undefined ? undefined : `unable to read service directory ${dir}: ${why}`;
}

/** The variables DIR/env gives the chain (envdir: an empty file removes the variable). */
export function serviceEnv(dir: string, base: Readonly<Record<string, string | undefined>>): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...base };
  const envDir = join(dir, "env");
  if (!existsSync(envDir)) return env;
  let changes: Map<string, string | undefined>;
  try {
    changes = readEnvdir(envDir);
  } catch (e) {
    throw new TempError((e as Error).message);
  }
  for (const [name, value] of changes) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

/** `${NAME}`, `${NAME-default}`, `${NAME+alternative}` or `$NAME` at `at`: its value and where the text goes on. */
function expandVariable(text: string, at: number, env: Readonly<Record<string, string | undefined>>): [string, number] {
  if (text[at + 1] !== "{") {
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(at + 1));
    return m ? [env[m[0]] ?? "", at + 1 + m[0].length] : ["$", at + 1];
  }
  const close = text.indexOf("}", at);
  const m = /^\{([A-Za-z_][A-Za-z0-9_]*)(?:([-+])(.*))?\}$/s.exec(text.slice(at + 1, close + 1));
  if (close < 0 || !m) throw new TempError(`unsupported expansion at ${text.slice(at, at + 20)}`);
  const value = env[m[1]!];
  const word = m[3] ?? "";
  const next = close + 1;
  if (m[2] === "-") return [value ?? shellWords(word, env).join(" "), next];
  if (m[2] === "+") return [value === undefined ? "" : shellWords(word, env).join(" "), next];
  return [value ?? "", next];
}

/** Splits shell text into words: quotes, backslashes, `$VAR` and `${VAR[-+]word}` from `env`; an unquoted empty expansion is no word. */
export function shellWords(text: string, env: Readonly<Record<string, string | undefined>>): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quoted = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === "\\" && text[i + 1] === "\n") { i += 2; continue; }
    if (c === " " || c === "\t" || c === "\n") {
      if (inWord && (word !== "" || quoted)) words.push(word);
      word = "";
      inWord = false;
      quoted = false;
      i++;
      continue;
    }
    inWord = true;
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new TempError("unterminated ' quote");
      word += text.slice(i + 1, end);
      quoted = true;
      i = end + 1;
    } else if (c === '"') {
      quoted = true;
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === "\\" && i + 1 < text.length) { word += text[i + 1]; i += 2; continue; }
        if (text[i] === "$") { const [v, next] = expandVariable(text, i, env); word += v; i = next; continue; }
        word += text[i];
        i++;
      }
      i++;
    } else if (c === "\\") {
      word += text[i + 1] ?? "";
      i += 2;
    } else if (c === "$") {
      const [v, next] = expandVariable(text, i, env);
      word += v;
      i = next;
    } else {
      word += c;
      i++;
    }
  }
  if (inWord && (word !== "" || quoted)) words.push(word);
  return words;
}

/** The words after `serve`/`tcpserver` in a command (looking into `sh -c '...'`), or undefined. */
export function serveArguments(words: readonly string[], env: Readonly<Record<string, string | undefined>>): string[] | undefined {
  for (let i = 0; i < words.length; i++) {
    const base = basename(words[i]!);
    if (base === "tcpserver") return words.slice(i + 1);
    if (base === "serve" && i > 0 && isPoppinName(basename(words[i - 1]!))) return words.slice(i + 1);
    if ((base === "sh" || base === "bash") && words[i + 1] === "-c" && words[i + 2] !== undefined) {
      return serveArguments(shellWords(words[i + 2]!, env), env);
    }
  }
  return undefined;
}

/** A data or address-space limit set before serve starts: the option as written, its bytes. */
export interface MemoryLimit { option: string; bytes: bigint }

/** softlimit's options that take a value (daemontools 0.76). */
const SOFTLIMIT_SPEC = "a:c:d:f:l:m:o:p:r:s:t:";

/**
 * The data and address-space limits `softlimit -m/-d/-a` puts on the serve command in `words`
 * (looking into `sh -c '...'`), in order, up to serve itself.
 */
export function memoryLimitsBeforeServe(words: readonly string[], env: Readonly<Record<string, string | undefined>>): MemoryLimit[] {
  const found: MemoryLimit[] = [];
  for (let i = 0; i < words.length; i++) {
    const base = basename(words[i]!);
    if (base === "tcpserver" || (base === "serve" && i > 0 && isPoppinName(basename(words[i - 1]!)))) break;
    if ((base === "sh" || base === "bash") && words[i + 1] === "-c" && words[i + 2] !== undefined) {
      found.push(...memoryLimitsBeforeServe(shellWords(words[i + 2]!, env), env));
      break;
    }
    if (base !== "softlimit") continue;
    const got = sgetopt(words.slice(i + 1), SOFTLIMIT_SPEC);
    if (!got.ok) break;
    for (const { flag, value } of got.parsed.options) {
      if ((flag === "m" || flag === "d" || flag === "a") && /^[0-9]+$/.test(value)) found.push({ option: `softlimit -${flag} ${value}`, bytes: BigInt(value) });
    }
    i = words.length - got.parsed.rest.length - 1;
  }
  return found;
}

/** systemd's LimitDATA= and LimitAS= in a unit (K, M, G, T suffixes are powers of 1024). */
export function unitMemoryLimits(unit: string): MemoryLimit[] {
  const found: MemoryLimit[] = [];
  for (const m of unit.matchAll(/^(Limit(?:DATA|AS))=([0-9]+)([KMGT]?)\s*$/gm)) {
    const scale = 1024n ** BigInt(" KMGT".indexOf(m[3] || " "));
    found.push({ option: `${m[1]}=${m[2]}${m[3]}`, bytes: BigInt(m[2]!) * scale });
  }
  return found;
}

/** The words of the service's command (run's text or the unit's ExecStart=), the environment its chain gets, and where they came from. */
export function serviceWords(dir: string, base: Readonly<Record<string, string | undefined>>): { words: string[]; env: Record<string, string | undefined>; source: string; unit?: string } {
  const env = serviceEnv(dir, base);
  let source = join(dir, "run");
  let text: string;
  let unit: string | undefined;
  try {
    if (existsSync(source)) {
      text = readFileSync(source, "utf8").split("\n").filter((l) => !l.trimStart().startsWith("#")).join("\n");
    } else {
      const name = readdirSync(dir).find((f) => f.endsWith(".service"));
      if (name === undefined) throw new TempError(`${dir} has neither run nor a .service unit`);
      source = join(dir, name);
      unit = readFileSync(source, "utf8");
      const line = unit.split("\n").find((l) => l.startsWith("ExecStart="));
      if (line === undefined) throw new TempError(`${source} has no ExecStart=`);
      text = line.slice("ExecStart=".length).replace(/%%/g, "%");
    }
  } catch (e) {
    if (e instanceof TempError) throw e;
    throw new TempError(`unable to read ${source}: ${describeSysError(e)}`);
  }
  return { words: shellWords(text, env), env, source, unit };
}

/** The serve arguments of service directory `dir` and the environment its chain gets. */
export function serviceCommand(dir: string, base: Readonly<Record<string, string | undefined>>): { args: string[]; env: Record<string, string | undefined>; source: string } {
  const { words, env, source } = serviceWords(dir, base);
  const args = serveArguments(words, env);
  if (args === undefined) throw new TempError(`${source} runs no serve (tcpserver) command`);
  return { args, env, source };
}
