/**
 * kill -9 in the POP3 chain: seeded rounds of random sessions, a random process killed at
 * a random moment in most of them, and the Maildir invariant checked after each (see
 * kill_harness.ts). 50 rounds of the classic chain (qmail-popup, checkpassword, qmail-pop3d
 * as separate processes, POPPIN_ONE_PROCESS=0) and 20 of popup's default, which serves
 * poppin's own chain in its own process where it can, and 20 of serve --inline over TCP. The
 * campaign (scripts/fuzz/kill_campaign.ts) runs 1,000 and more.
 */
import { expect, test } from "bun:test";
import { tempDir } from "../helpers.ts";
import { makeFaultBox } from "./chain_fixture.ts";
import { runKillRounds } from "./kill_harness.ts";

test("classic chain, 50 rounds of kill -9: every message there exactly once unless an answered QUIT deleted it", async () => {
  const box = makeFaultBox(tempDir("kill"));
  const stats = await runKillRounds(box, 50, 9001, { mode: "classic" });
  expect(stats.violations).toEqual([]);
  expect(stats.rounds).toBe(50);
  // The rounds did what they are for: kills of both processes, and deletions that went through.
  // A kill lands only if its victim is still alive (22-40 of 50 land, depending on the load).
  expect(stats.kills).toBeGreaterThan(15);
  expect(stats.killedPopup).toBeGreaterThan(0);
  expect(stats.killedChild).toBeGreaterThan(0);
  expect(stats.quitsAnswered).toBeGreaterThan(0);
  expect(stats.messagesDeleted).toBeGreaterThan(0);
}, 110_000);

test("popup's default way of running its own chain (one process where it serves it itself), 20 rounds: the same invariant", async () => {
  const box = makeFaultBox(tempDir("kill1"));
  const stats = await runKillRounds(box, 20, 4242, { mode: "one-process" });
  expect(stats.violations).toEqual([]);
  // A kill lands only if its victim is still alive: the faster the build, the more rounds end
  // first (5 of 20 landed on an idle 2-core machine with the bytecode build), so the floor is low.
  expect(stats.kills).toBeGreaterThan(2);
  expect(stats.quitsAnswered).toBeGreaterThan(0);
  expect(stats.messagesDeleted).toBeGreaterThan(0);
}, 60_000);

test("serve --inline, 20 rounds of kill -9 (the server or the session's process): the same invariant", async () => {
  const box = makeFaultBox(tempDir("killinline"));
  const stats = await runKillRounds(box, 20, 777, { mode: "inline" });
  expect(stats.violations).toEqual([]);
  expect(stats.kills).toBeGreaterThan(2); // see above: kills that land depend on speed
  expect(stats.killedPopup).toBeGreaterThan(0); // the server itself
  expect(stats.quitsAnswered).toBeGreaterThan(0);
  expect(stats.messagesDeleted).toBeGreaterThan(0);
}, 60_000);
