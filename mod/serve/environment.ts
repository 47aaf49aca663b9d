/**
 * The UCSPI environment tcpserver gives its child (ucspi-tcp 0.88 tcpserver.c doit(), and
 * ucspi-tcp-ipv6 for IPv6 sockets): PROTO, TCPLOCAL*, TCPREMOTE*, each set or unset exactly
 * as tcpserver does, then the variables of the matching rule.
 */
import type { RulesEnvInstruction } from "../rules/lookup.ts";

/** What serve knows of one connection when it starts the program. */
export interface ConnectionFacts {
  /** The listening socket is IPv6 (ucspi-tcp-ipv6 then also sets the TCP6* variables). */
  ipv6Socket: boolean;
  localIp: string;
  localPort: number;
  /** -l name, or the reverse DNS name of localIp; undefined: TCPLOCALHOST unset. */
  localHost: string | undefined;
  remoteIp: string;
  remotePort: number;
  /** Reverse DNS name (with -h and, with -p, confirmed); undefined: TCPREMOTEHOST unset. */
  remoteHost: string | undefined;
  /** Ident answer (with -r, when the query worked); undefined: TCPREMOTEINFO unset. */
  remoteInfo: string | undefined;
}

/** Variables of socket activation, which the program must not see (sd_listen_fds unsets them). */
const SOCKET_ACTIVATION_VARIABLES = ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"];

function put(env: Record<string, string>, name: string, value: string | undefined): void {
  if (value === undefined) delete env[name];
  else env[name] = value;
}

/** The child's environment: a copy of `base` with the UCSPI variables and then the rule's variables applied. */
export function childEnvironment(
  base: Readonly<Record<string, string | undefined>>,
  facts: ConnectionFacts,
  ruleEnv: readonly RulesEnvInstruction[],
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(base)) if (value !== undefined) env[name] = value;
  for (const name of SOCKET_ACTIVATION_VARIABLES) delete env[name];
  const localPort = String(facts.localPort);
  const remotePort = String(facts.remotePort);
  // remoteIp is an address serve or the socket gave (IPv4 dotted, IPv4-mapped already unmapped):
  // a colon means IPv6. (No node:net here: popup under inetd loads this module at every start.)
  put(env, "PROTO", facts.remoteIp.includes(":") ? "TCP6" : "TCP");
  put(env, "TCPLOCALIP", facts.localIp);
  put(env, "TCPLOCALPORT", localPort);
  put(env, "TCPLOCALHOST", facts.localHost);
  if (facts.ipv6Socket) {
    put(env, "TCP6LOCALIP", facts.localIp);
    put(env, "TCP6LOCALHOST", facts.localHost);
    put(env, "TCP6LOCALPORT", localPort);
  }
  put(env, "TCPREMOTEIP", facts.remoteIp);
  put(env, "TCPREMOTEPORT", remotePort);
  put(env, "TCPREMOTEHOST", facts.remoteHost);
  if (facts.ipv6Socket) {
    put(env, "TCP6REMOTEIP", facts.remoteIp);
    put(env, "TCP6REMOTEPORT", remotePort);
    put(env, "TCP6REMOTEHOST", facts.remoteHost);
  }
  put(env, "TCPREMOTEINFO", facts.remoteInfo);
  for (const instruction of ruleEnv) put(env, instruction.name, instruction.value ?? undefined);
  return env;
}
