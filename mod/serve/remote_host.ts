/**
 * Host names for TCPLOCALHOST and TCPREMOTEHOST through the system resolver (node:dns),
 * bounded in time. With -p (paranoid) the name counts only if it resolves back to the
 * address, as tcpserver checks.
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

/** The first PTR name of `ip`, or undefined. */
export async function hostName(ip: string, timeoutMs = NAME_LOOKUP_TIMEOUT_MS): Promise<string | undefined> {
  const names = await bounded(nodeDns().reverse(ip), timeoutMs);
  return names && names.length > 0 && names[0] !== "" ? names[0] : undefined;
}

/** The client's name for TCPREMOTEHOST; with `paranoid`, only if the name's addresses include `ip`. */
export async function remoteHostName(ip: string, paranoid: boolean, timeoutMs = NAME_LOOKUP_TIMEOUT_MS): Promise<string | undefined> {
  const name = await hostName(ip, timeoutMs);
  if (name === undefined || !paranoid) return name;
  const addresses = await bounded(nodeDns().lookup(name, { all: true }), timeoutMs);
  return addresses?.some((a) => a.address === ip) ? name : undefined;
}
