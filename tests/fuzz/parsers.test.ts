/**
 * The CI slice of the fuzz campaign: every target of scripts/fuzz/registry.ts on a few
 * thousand inputs from a fixed seed (the same inputs every run, so a failure here is
 * reproducible), plus one run from a seed that changes per day, so CI keeps exploring.
 * The long campaign (10^7 inputs per target) is scripts/fuzz/campaign.ts.
 */
import { describe, expect, test } from "bun:test";
import { FUZZ_TARGETS } from "../../scripts/fuzz/registry.ts";

const FIXED_SEED = 20261121;
const DAILY_SEED = Math.floor(Date.now() / 86_400_000);

describe("fuzz slice (fixed seed)", () => {
  for (const target of FUZZ_TARGETS) {
    test(`${target.name} (${target.module}): ${target.ciRuns} inputs`, () => {
      expect(() => target.check(target.ciRuns, FIXED_SEED)).not.toThrow();
    });
  }
});

describe(`fuzz slice (seed ${DAILY_SEED}, changes daily)`, () => {
  for (const target of FUZZ_TARGETS) {
    test(`${target.name}: ${Math.ceil(target.ciRuns / 4)} inputs`, () => {
      target.check(Math.ceil(target.ciRuns / 4), DAILY_SEED);
    });
  }
});
