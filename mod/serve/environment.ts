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

/**
 * One change as ucspi-tcp's pathexec applies it to the environment it passes on: an existing
 * entry is removed by moving the last entry into its place, and a value is appended. So the
 * child's `env` lists the variables in the very order tcpserver's child sees them.
 */
function put(env: Array<[string, string]>, name: string, value: string | undefined): void {
  const at = env.findIndex(([n]) => n === name);
  if (at >= 0) {
    const last = env.pop()!;
    if (at < env.length) env[at] = last;
  }
  if (value !== undefined) env.push([name, value]);
}

/** The child's environment: a copy of `base` with the UCSPI variables and then the rule's variables applied. */
export function childEnvironment(
  base: Readonly<Record<string, string | undefined>>,
  facts: ConnectionFacts,
  ruleEnv: readonly RulesEnvInstruction[],
): Record<string, string> {
  const env: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(base)) {
    if (value !== undefined && !SOCKET_ACTIVATION_VARIABLES.includes(name)) env.push([name, value]);
  }
  const localPort = String(facts.localPort);
  const remotePort = String(facts.remotePort);
  // remoteIp is an address serve or the socket gave (IPv4 dotted, IPv4-mapped already unmapped):
  // a colon means IPv6. (No node:net here: popup under inetd loads this module at every start.)
  put(env, "PROTO", facts.remoteIp.includes(":") ? "TCP6" : "TCP");
  // ucspi-tcp-ipv6 sets each TCP6 copy right after its TCP variable (the order its child's env shows).
  const v6 = facts.ipv6Socket;
  const pair = (name: string, value: string | undefined) => {
    put(env, `TCP${name}`, value);
    if (v6) put(env, `TCP6${name}`, value);
  };
  pair("LOCALIP", facts.localIp);
  pair("LOCALPORT", localPort);
  pair("LOCALHOST", facts.localHost);
  pair("REMOTEIP", facts.remoteIp);
  pair("REMOTEPORT", remotePort);
  pair("REMOTEHOST", facts.remoteHost);
  put(env, "TCPREMOTEINFO", facts.remoteInfo);
  for (const instruction of ruleEnv) put(env, instruction.name, instruction.value ?? undefined);
  // Insertion order is the order the child's environ gets.
  return Object.fromEntries(env);
}
