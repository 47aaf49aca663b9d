/**
 * A short fixed-seed run of the hosts' differential campaign (scripts/fuzz/parity_campaign.ts,
 * run at length outside CI): generated mailboxes and hostile conversations against every
 * mode x kind of user and the proxy tier (under serve --inline and as the classic chain), each transcript and Maildir equal to its reference's.
 */
import { expect, test } from "bun:test";
import { runCampaign } from "../../scripts/fuzz/parity_campaign.ts";

test("the parity campaign, 6 rounds from seed 30070 (30074: a refused login inside TLS with the right one pipelined after it): every host answers and leaves the Maildir as its reference does", async () => {
  const lines: string[] = [];
  const report = await runCampaign({ rounds: 6, seed: 30070, hosts: [] }, (line) => lines.push(line));
  expect(report.conversations).toBe(66); // 11 hosts
  expect(report.divergences.map((d) => `seed ${d.seed} ${d.host}: ${d.what}`)).toEqual([]);
}, 180_000);
