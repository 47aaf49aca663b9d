/**
 * Host names for TCPLOCALHOST and TCPREMOTEHOST through the system resolver (node:dns),
 * bounded in time. With -p (paranoid) the name counts only if it resolves back to the
 * address, as tcpserver checks.
 *
 * The name is getnameinfo's (dns.lookupService): the address's canonical name, as
 * `getent hosts IP` prints it and as DNS's PTR record gives it to tcpserver. Bun's
 * dns.reverse answers an address that /etc/hosts names with that line's aliases only
 * (`192.0.2.10 mail.example.org mail` gives `mail`), which would break `=mail.example.org`
 * rules.
 */
import { nodeDns } from "../sys/builtins.ts";

/** How long one name lookup may take before serve goes on without the name. */
export const NAME_LOOKUP_TIMEOUT_MS = 5_000;

function bounded<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    work.then(
      (value) => { clearTimeout(timer); resolve(value); },
      () => { clearTimeout(timer); resolve(undefined); },
    );
  });
}

/** The canonical name of `ip`, or undefined when it has none. */
export async function hostName(ip: string, timeoutMs = NAME_LOOKUP_TIMEOUT_MS): Promise<string | undefined> {
  const found = await bounded(nodeDns().lookupService(ip, 0), timeoutMs);
  const name = found?.hostname;
  // getnameinfo without NI_NAMEREQD answers the address itself when it has no name.
  return name === undefined || name === "" || name === ip ? undefined : name;
}

/** The client's name for TCPREMOTEHOST; with `paranoid`, only if the name's addresses include `ip`. */
export async function remoteHostName(ip: string, paranoid: boolean, timeoutMs = NAME_LOOKUP_TIMEOUT_MS): Promise<string | undefined> {
  const name = await hostName(ip, timeoutMs);
  if (name === undefined || !paranoid) return name;
  const addresses = await bounded(nodeDns().lookup(name, { all: true }), timeoutMs);
  return addresses?.some((a) => a.address === ip) ? name : undefined;
}
