/**
 * A fuzz target: one parser (or encoder, or state machine) and the properties it must keep
 * on any input. The CI slice (tests/fuzz) and the long campaign (scripts/fuzz/campaign.ts)
 * run the same targets; only the number of inputs and the seed differ.
 */
export interface FuzzTarget {
  /** Short name, used on the campaign's command line and in reports ("pop3-session"). */
  readonly name: string;
  /** The module under test. */
  readonly module: string;
  /** Inputs in the CI slice (small enough for well under a second). */
  readonly ciRuns: number;
  /** Runs `numRuns` random inputs from `seed`; throws fast-check's report (seed, path, shrunk counterexample) on a failure. */
  check(numRuns: number, seed: number): void;
}

/** Bytes as text for messages and models (latin1: every octet survives). */
export function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
}

export function bytesOf(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, "latin1"));
}
