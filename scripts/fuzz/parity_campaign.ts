/**
 * The hosts' differential campaign (run outside CI, as root, with dist/poppin built): from each
 * seed a mailbox and a conversation of valid and hostile POP3 input (parity/generate.ts), run
 * against every host x kind of user (parity/hosts.ts, the proxy tier included); each host's
 * transcript must equal its reference's byte for byte (the greeting's timestamp and the login
 * blanked), and the Maildir left behind (which files, in new/ or cur/, with which flags) too.
 * A divergence is printed with the seed that replays it.
 *
 * With --dovecot, Debian's Dovecot runs the same conversations and its answers' meaning (+OK or
 * -ERR) and the mail it leaves are compared with the classic chain's (APOP and SCRAM off there
 * too); its differences are reported apart, as information.
 *
 *   bun scripts/fuzz/parity_campaign.ts [--rounds N] [--seed S] [--host NAME]... [--dovecot] [--json FILE] [--verbose]
 */
import { writeFileSync } from "node:fs";
import { converse, settledState, type Transcript } from "./parity/client.ts";
import { makeRound, show, type Round } from "./parity/generate.ts";
import { meaning, remaining } from "./parity/dovecot.ts";
import { Hosts, PASSWORD, type Host } from "./parity/hosts.ts";

export interface CampaignOptions {
  rounds: number;
  seed: number;
  hosts: string[];
  verbose?: boolean;
  /** Also run Dovecot's pop3 and compare the meaning of its answers (differences are counted apart: Dovecot is no poppin host). */
  dovecot?: boolean;
}

export interface Divergence {
  seed: number;
  host: string;
  reference: string;
  what: string;
}

export interface CampaignReport {
  rounds: number;
  conversations: number;
  seconds: number;
  divergences: Divergence[];
  /** Where Dovecot's answers meant something else, or it left other mail. */
  dovecotDifferences: Divergence[];
}

interface Outcome {
  host: Host;
  ms: number;
  transcript: Transcript;
  maildir: string[];
}

async function runOn(hosts: Hosts, host: Host, round: Round): Promise<Outcome> {
  const acct = hosts.account(host, round.messages, round.places);
  const t0 = performance.now();
  // The proxy tier's group: SCRAM is not relayed (docs/proxy.md), so its conversations ask for
  // a mechanism nobody offers instead, and the reference's CAPA is read without SCRAM's names.
  const relayedGroup = host.reference.includes("noapop");
  const conversation = relayedGroup ? { ...round.conversation, bursts: round.conversation.bursts.map((b) => b.replaceAll(/SCRAM-SHA-256/gi, "NOPE")) } : round.conversation;
  const transcript = await converse({ port: host.port, login: acct.login, password: PASSWORD, apopSecret: acct.apopSecret }, conversation);
  const ms = performance.now() - t0;
  return { host, transcript, ms, maildir: await settledState(acct.maildir) };
}

/** Where two transcripts first differ, with a little context around it. */
export function firstDifference(a: string, b: string): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  const from = Math.max(0, a.lastIndexOf("\n", i - 1) + 1, i - 300);
  const cut = (s: string) => JSON.stringify(s.slice(from, i + 160));
  return `at octet ${i} of ${a.length}/${b.length}:\n    host:      ${cut(a)}\n    reference: ${cut(b)}`;
}

/**
 * SCRAM's names blanked from CAPA's SASL line and AUTH's list: the proxy tier relays PLAIN and
 * USER/PASS only (SCRAM's keys are on the backend), as docs/proxy.md says.
 */
export function withoutScram(text: string): string {
  return text.replace(/^SCRAM-[^\r\n]*\r\n/gm, "").replace(/^(SASL [^\r\n]*)/gm, (line) => line.replace(/ SCRAM-[^ \r]*/g, ""));
}

/** How `o` differs from its reference `r`, or undefined. A reset (the server closed with input unread) may lose the last answers: then one transcript need only begin the other. */
export function compare(o: Outcome, r: Outcome): string | undefined {
  const relayed = o.host.reference.includes("noapop");
  const a = relayed ? { ...o.transcript, text: withoutScram(o.transcript.text) } : o.transcript;
  const b = relayed ? { ...r.transcript, text: withoutScram(r.transcript.text) } : r.transcript;
  const reset = a.error === "ECONNRESET" || b.error === "ECONNRESET";
  const same = reset ? a.text.startsWith(b.text) || b.text.startsWith(a.text) : a.text === b.text;
  const problems: string[] = [];
  if (!same) problems.push(`transcript ${firstDifference(a.text, b.text)}`);
  if (a.closed !== b.closed) problems.push(`closed: host ${a.closed}, reference ${b.closed}`);
  if (o.maildir.join(" ") !== r.maildir.join(" ")) problems.push(`Maildir: host [${o.maildir.join(" ")}], reference [${r.maildir.join(" ")}]`);
  return problems.length > 0 ? problems.join("\n  ") : undefined;
}

/** Dovecot against poppin: the same +OK/-ERR sequence and the same mail left, the text aside. */
export function compareMeaning(o: Outcome, r: Outcome): string | undefined {
  const problems: string[] = [];
  const a = meaning(o.transcript.text.replace(/^\+OK[^\r]*\r\n/, ""));
  const b = meaning(r.transcript.text.replace(/^\+OK[^\r]*\r\n/, ""));
  if (a !== b) problems.push(`answers: dovecot ${a}, poppin ${b}`);
  if (remaining(o.maildir) !== remaining(r.maildir)) problems.push(`mail left: dovecot [${remaining(o.maildir)}], poppin [${remaining(r.maildir)}]`);
  return problems.length > 0 ? problems.join("; ") : undefined;
}

export async function runCampaign(o: CampaignOptions, log: (line: string) => void = console.error): Promise<CampaignReport> {
  const started = performance.now();
  const hosts = new Hosts();
  const divergences: Divergence[] = [];
  const dovecotDifferences: Divergence[] = [];
  let conversations = 0;
  try {
    await hosts.start(o.hosts, o.dovecot === true);
    log(`hosts: ${hosts.hosts.map((h) => `${h.name} (port ${h.port}, vs ${h.reference})`).join("; ")}`);
    for (let k = 0; k < o.rounds; k++) {
      const seed = o.seed + k;
      const round = makeRound(seed);
      const t0 = performance.now();
      const outcomes = await Promise.all(hosts.hosts.map((h) => runOn(hosts, h, round)));
      const ms = performance.now() - t0;
      if (o.verbose && ms > 2000) log(`seed ${seed}: ${ms.toFixed(0)} ms (${outcomes.map((x) => `${x.host.name} ${x.ms.toFixed(0)}`).join(", ")}): ${show(round.conversation)}`);
      conversations += outcomes.length;
      for (const out of outcomes) {
        const ref = outcomes.find((x) => x.host.name === out.host.reference);
        if (ref === undefined || ref === out) continue;
        // Dovecot runs without TLS here: a conversation that says STLS means something else to it.
        if (out.host.compare === "meaning" && /stls/i.test(JSON.stringify(round.conversation))) continue;
        if (out.host.compare === "meaning") {
          const what = compareMeaning(out, ref);
          if (what !== undefined) {
            dovecotDifferences.push({ seed, host: out.host.name, reference: ref.host.name, what });
            if (o.verbose) log(`dovecot seed ${seed}: ${what}\n  conversation: ${show(round.conversation)}`);
          }
          continue;
        }
        const what = compare(out, ref);
        if (what === undefined) continue;
        divergences.push({ seed, host: out.host.name, reference: ref.host.name, what });
        log(`DIVERGENCE seed ${seed} ${out.host.name} vs ${ref.host.name}:\n  ${what}\n  conversation: ${show(round.conversation)}\n  host log: ${hosts.log(out.host, 8)}`);
      }
      if (o.verbose) log(`seed ${seed}: ${outcomes.map((x) => `${x.host.name}=${x.transcript.text.length}`).join(" ")}`);
      if ((k + 1) % 25 === 0) log(`${k + 1} rounds, ${conversations} conversations, ${divergences.length} divergences, ${((performance.now() - started) / 1000).toFixed(0)} s`);
    }
  } finally {
    await hosts.close();
  }
  return { rounds: o.rounds, conversations, seconds: (performance.now() - started) / 1000, divergences, dovecotDifferences };
}

function parseOptions(argv: string[]): CampaignOptions & { json?: string } {
  const o: CampaignOptions & { json?: string } = { rounds: 100, seed: 1, hosts: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = () => argv[++i] ?? (() => { throw new Error(`${a} needs a value`); })();
    if (a === "--rounds") o.rounds = Number(v());
    else if (a === "--seed") o.seed = Number(v());
    else if (a === "--host") o.hosts.push(v());
    else if (a === "--json") o.json = v();
    else if (a === "--verbose") o.verbose = true;
    else if (a === "--dovecot") o.dovecot = true;
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

if (import.meta.main) {
  const o = parseOptions(process.argv.slice(2));
  const report = await runCampaign(o);
  const kinds = new Map<string, number>();
  for (const d of report.divergences) kinds.set(d.host, (kinds.get(d.host) ?? 0) + 1);
  console.log(`${report.rounds} rounds from seed ${o.seed}, ${report.conversations} conversations in ${report.seconds.toFixed(0)} s: ${report.divergences.length} divergences ${JSON.stringify(Object.fromEntries(kinds))}`);
  if (o.dovecot) console.log(`Dovecot: ${report.dovecotDifferences.length} conversations whose answers meant something else or left other mail`);
  if (o.json) writeFileSync(o.json, JSON.stringify(report, null, 1));
  process.exitCode = report.divergences.length > 0 ? 1 : 0;
}
