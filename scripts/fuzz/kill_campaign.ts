/**
 * The kill -9 campaign (run outside CI): --rounds rounds (default 1,000) of the harness in
 * tests/faults/kill_harness.ts against each mode of the chain and each kind of user, in
 * chunks of 50 rounds from consecutive seeds, each on a fresh Maildir (and, for system users,
 * a fresh account, removed after its chunk). Prints the totals and every violation.
 *
 *   POPPIN_BIN=$PWD/dist/poppin bun scripts/fuzz/kill_campaign.ts [--rounds N] [--seed S]
 *     [--mode classic|one-process|inline]... [--user system|virtual|virtual-u]...
 *
 * System users need root (useradd, chpasswd); popup and serve then run as root, as in production,
 * and so they do for "virtual" (a user database entry with its own uid). "virtual-u": the same
 * virtual user with popup and serve run as its uid (serve -u/-g: sessions in serve's own process).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { makeFaultBox, removeFaultBox, type FaultBox } from "../../tests/faults/chain_fixture.ts";
import { addStats, emptyStats, runKillRounds, type KillMode } from "../../tests/faults/kill_harness.ts";

const MODES: readonly KillMode[] = ["classic", "one-process", "inline"];
/** "virtual-u": virtual users with popup and serve running as their uid (serve -u/-g), not as root. */
const USERS = ["system", "virtual", "virtual-u"] as const;
type CampaignUser = (typeof USERS)[number];
const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "1000" },
    seed: { type: "string", default: "100" },
    mode: { type: "string", multiple: true },
    user: { type: "string", multiple: true },
  },
});
const rounds = Number(values.rounds);
const seed = Number(values.seed);
const modes = (values.mode ?? [...MODES]) as KillMode[];
const users = (values.user ?? [...USERS]) as CampaignUser[];
for (const m of modes) if (!MODES.includes(m)) throw new Error(`--mode: ${m}: not one of ${MODES.join(", ")}`);
for (const u of users) if (!(USERS as readonly string[]).includes(u)) throw new Error(`--user: ${u}: not one of ${USERS.join(", ")}`);
if (!Number.isInteger(rounds) || rounds < 1 || !Number.isInteger(seed)) throw new Error("--rounds and --seed take whole numbers");
if (users.includes("system") && process.getuid!() !== 0) throw new Error("--user system needs root (useradd)");

// A system account made for a chunk is removed even when the campaign is interrupted.
let current: { box?: FaultBox; root: string } | undefined;
const cleanUp = () => {
  if (current?.box) removeFaultBox(current.box);
  if (current) rmSync(current.root, { recursive: true, force: true });
  current = undefined;
};
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => { cleanUp(); process.exit(130); });

const CHUNK = 50;
let failed = false;
console.log("| mode | user | rounds | kills: root / session / helper | answered QUITs | QUITs cut by a kill (mid-deletions) | messages delivered | deleted by QUIT | '-ERR child crashed' mid-session | rounds with a violation | seconds |");
console.log("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const user of users) {
  for (const mode of modes) {
    const total = emptyStats();
    const started = Date.now();
    for (let done = 0, s = seed; done < rounds; done += CHUNK, s++) {
      current = { root: mkdtempSync(join(tmpdir(), "poppin-killcampaign-")) };
      try {
        current.box = makeFaultBox(current.root, user === "system" ? "system" : "virtual");
        addStats(total, await runKillRounds(current.box, Math.min(CHUNK, rounds - done), s, { mode, asMailUid: user === "virtual-u" }));
      } finally {
        cleanUp();
      }
      console.error(`${mode}, ${user} users: ${total.rounds} rounds, ${total.kills} kills, ${total.violatingRounds} rounds with a violation`);
    }
    const t = total;
    console.log(`| ${mode} | ${user} | ${t.rounds} | ${t.kills}: ${t.killedRoot} / ${t.killedSession} / ${t.killedHelper} | ${t.quitsAnswered} | ${t.quitsLost} (${t.quitsCutMidUpdate}) | ${t.messagesDelivered} | ${t.messagesDeleted} | ${t.childCrashReplies} | ${t.violatingRounds} | ${((Date.now() - started) / 1000).toFixed(0)} |`);
    for (const v of t.violations) console.log(`  ${v}`);
    if (t.violatingRounds) failed = true;
  }
}
process.exitCode = failed ? 1 : 0;
