/**
 * PORT as tcpserver reads it: all digits (scan_ulong, truncated to 16 bits as tcpserver's
 * uint16 does) or a name looked up as getservbyname(name, "tcp") does in /etc/services.
 */
import { readFileSync } from "node:fs";
import { scanUlong } from "./options.ts";

export const SERVICES_PATH = "/etc/services";

/** The port for `name` with protocol tcp in services(5) text, or undefined. Aliases count. */
export function servicePort(servicesText: string, name: string): number | undefined {
  for (const rawLine of servicesText.split("\n")) {
    const line = rawLine.replace(/#.*/, "").trim();
    if (line === "") continue;
    const fields = line.split(/\s+/);
    const [portText, proto] = (fields[1] ?? "").split("/");
    if (proto !== "tcp" || !/^\d+$/.test(portText ?? "")) continue;
    if (fields[0] === name || fields.slice(2).includes(name)) return Number(portText) & 0xffff;
  }
  return undefined;
}

/** tcpserver's port: a number when the whole text is digits (including the empty text: 0), else a service name. */
export function resolvePort(text: string, readServices: () => string = () => readFileSync(SERVICES_PATH, "latin1")): number | undefined {
  const { value, used } = scanUlong(text);
  if (used === text.length) return value & 0xffff;
  let services: string;
  try {
    services = readServices();
  } catch {
    return undefined;
  }
  return servicePort(services, text);
}
