/** The environment a daemontools helper (or tcpserver) passes on. */
export function execEnvironment(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined) out[key] = value;
  return out;
}

/**
 * `env` with `changes` applied in order, as djb's pathexec builds the environment it
 * execs with (daemontools and ucspi-tcp pathexec.c): a variable that is replaced or removed
 * gives its slot to the last entry, and a new value is appended. Insertion order is the
 * order the child's environ gets, so `envdir DIR env` or tcpserver's child's `env` print the
 * same lines in the same order as with the originals.
 */
export function pathexecEnvironment(
  env: Readonly<Record<string, string | undefined>>,
  changes: Iterable<readonly [string, string | undefined]>,
): Record<string, string> {
  const entries: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(env)) if (value !== undefined) entries.push([name, value]);
  for (const [name, value] of changes) {
    const at = entries.findIndex(([n]) => n === name);
    if (at >= 0) {
      const last = entries.pop()!;
      if (at < entries.length) entries[at] = last;
    }
    if (value !== undefined) entries.push([name, value]);
  }
  return Object.fromEntries(entries);
}
