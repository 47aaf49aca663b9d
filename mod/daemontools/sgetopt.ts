/**
 * djb's getopt (sgetopt/subgetopt from daemontools): options may be bundled (-ab),
 * an option's argument is the rest of its word or the next word, "--" ends the options,
 * a lone "-" is an argument. On trouble it answers a complaint line that the caller prints
 * as "PROG: illegal option -- z" or "PROG: option requires an argument -- d".
 */
export interface ParsedOptions {
  /** Options in the order given, each with its argument when it takes one. */
  options: { flag: string; value: string }[];
  /** What follows the options. */
  rest: string[];
}

export type GetoptResult = { ok: true; parsed: ParsedOptions } | { ok: false; complaint: string };

/** `spec` is getopt's string: "a:c:d:" means -a, -c, -d each take an argument. */
export function sgetopt(args: readonly string[], spec: string): GetoptResult {
  const options: { flag: string; value: string }[] = [];
  let i = 0;
  while (i < args.length) {
    const word = args[i];
    if (word === "--") { i++; break; }
    if (!word.startsWith("-") || word === "-") break;
    i++;
    for (let pos = 1; pos < word.length; pos++) {
      const flag = word[pos];
      const at = spec.indexOf(flag);
      if (flag === ":" || at < 0) return { ok: false, complaint: `illegal option -- ${flag}` };
      if (spec[at + 1] !== ":") { options.push({ flag, value: "" }); continue; }
      if (pos + 1 < word.length) { options.push({ flag, value: word.slice(pos + 1) }); break; }
      if (i >= args.length) return { ok: false, complaint: `option requires an argument -- ${flag}` };
      options.push({ flag, value: args[i++] });
      break;
    }
  }
  return { ok: true, parsed: { options, rest: args.slice(i) } };
}
