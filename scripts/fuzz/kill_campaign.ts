/**
 * The kill -9 campaign (run outside CI): --rounds rounds (default 1,000) of the harness in
 * tests/faults/kill_harness.ts against each mode of the chain, in chunks of 50 rounds from
 * consecutive seeds, each on a fresh Maildir. Prints the totals and every violation.
 *
 *   POPPIN_BIN=dist/poppin bun scripts/fuzz/kill_campaign.ts [--rounds N] [--seed S] [--mode classic|one-process|inline]...
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeFaultBox } from "../../tests/faults/chain_fixture.ts";
import { runKillRounds, type KillStats } from "../../tests/faults/kill_harness.ts";

const args = process.argv.slice(2);
let rounds = 1000;
let seed = 100;
const modes: ("classic" | "one-process" | "inline")[] = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--rounds") rounds = Number(args[++i]);
  else if (args[i] === "--seed") seed = Number(args[++i]);
  else if (args[i] === "--mode") modes.push(args[++i] as "classic" | "one-process" | "inline");
  else throw new Error(`unknown option ${args[i]}`);
}
if (modes.length === 0) modes.push("classic", "one-process", "inline");

const CHUNK = 50;
let failed = false;
console.log("| mode | rounds | kills (root / below it) | answered QUITs | messages delivered | deleted by QUIT | '-ERR child crashed' mid-session | violations | seconds |");
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const mode of modes) {
  const total: KillStats = { rounds: 0, kills: 0, killedPopup: 0, killedChild: 0, quitsAnswered: 0, messagesDeleted: 0, messagesDelivered: 0, childCrashReplies: 0, violations: [] };
  const started = Date.now();
  for (let done = 0, s = seed; done < rounds; done += CHUNK, s++) {
    const root = mkdtempSync(join(tmpdir(), "poppin-killcampaign-"));
    try {
      const stats = await runKillRounds(makeFaultBox(root), Math.min(CHUNK, rounds - done), s, { mode });
      for (const key of Object.keys(total) as (keyof KillStats)[]) {
        if (key === "violations") total.violations.push(...stats.violations);
        else total[key] += stats[key];
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
    console.error(`${mode}: ${total.rounds} rounds, ${total.kills} kills, ${total.violations.length} violations`);
  }
  const t = total;
  console.log(`| ${mode} | ${t.rounds} | ${t.kills} (${t.killedPopup} / ${t.killedChild}) | ${t.quitsAnswered} | ${t.messagesDelivered} | ${t.messagesDeleted} | ${t.childCrashReplies} | ${t.violations.length} | ${((Date.now() - started) / 1000).toFixed(0)} |`);
  for (const v of t.violations) console.log(`  ${v}`);
  if (t.violations.length) failed = true;
}
process.exitCode = failed ? 1 : 0;
