/**
 * The UCSPI environment tcpserver gives its child (ucspi-tcp 0.88 tcpserver.c doit(), and
 * ucspi-tcp-ipv6 for IPv6 sockets): PROTO, TCPLOCAL*, TCPREMOTE*, each set or unset exactly
 * as tcpserver does, then the variables of the matching rule.
 */
import type { RulesEnvInstruction } from "../rules/lookup.ts";
import { pathexecEnvironment } from "../daemontools/pathexec.ts";

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

/** The child's environment: a copy of `base` with the UCSPI variables and then the rule's variables applied. */
export function childEnvironment(
  base: Readonly<Record<string, string | undefined>>,
  facts: ConnectionFacts,
  ruleEnv: readonly RulesEnvInstruction[],
): Record<string, string> {
  const inherited: Record<string, string | undefined> = { ...base };
  for (const name of SOCKET_ACTIVATION_VARIABLES) delete inherited[name];
  const changes: Array<[string, string | undefined]> = [];
  const put = (name: string, value: string | undefined) => changes.push([name, value]);
  const localPort = String(facts.localPort);
  const remotePort = String(facts.remotePort);
  // remoteIp is an address serve or the socket gave (IPv4 dotted, IPv4-mapped already unmapped):
  // a colon means IPv6. (No node:net here: popup under inetd loads this module at every start.)
  put("PROTO", facts.remoteIp.includes(":") ? "TCP6" : "TCP");
  // ucspi-tcp-ipv6 sets each TCP6 copy right after its TCP variable (the order its child's env shows).
  const v6 = facts.ipv6Socket;
  const pair = (name: string, value: string | undefined) => {
    put(`TCP${name}`, value);
    if (v6) put(`TCP6${name}`, value);
  };
  pair("LOCALIP", facts.localIp);
  pair("LOCALPORT", localPort);
  pair("LOCALHOST", facts.localHost);
  pair("REMOTEIP", facts.remoteIp);
  pair("REMOTEPORT", remotePort);
  pair("REMOTEHOST", facts.remoteHost);
  put("TCPREMOTEINFO", facts.remoteInfo);
  for (const instruction of ruleEnv) put(instruction.name, instruction.value ?? undefined);
  // Applied as tcpserver's pathexec applies them, so the child's env lists them in its order.
  return pathexecEnvironment(inherited, changes);
}
