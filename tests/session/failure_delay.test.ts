/**
 * The failure delay is measured from the login, not added after the check: the client waits
 * max(delay, check) for the -ERR. A slow checkpassword, or a backend behind the proxy that
 * served its own delay, is not followed by a second full delay; a quick refusal (a policy's,
 * a SCRAM proof's, a backend with no delay) still waits the whole of it. The clock and the
 * sleep are the loop's own options, so nothing here depends on the machine's speed.
 */
import { describe, expect, test } from "bun:test";
import { failureWaitMs, servePopup, type ChainResult, type PopupChannel, type PopupOptions } from "../../mod/session/login_loop.ts";

const TS = "<1.1700000000@pop.example>";

/** Gives the client's lines one read at a time, records what the server wrote. */
class LinesChannel implements PopupChannel {
  output = "";
  constructor(readonly lines: string[]) {}
  write(bytes: Uint8Array): void {
    this.output += Buffer.from(bytes).toString("latin1");
  }
  readToLineEnd(buf: Uint8Array): number {
    const next = this.lines.shift();
    if (next === undefined) return 0;
    const bytes = Buffer.from(`${next}\r\n`, "latin1");
    buf.set(bytes);
    return bytes.length;
  }
}

/** One login with a fake clock: the check takes `checkMs`; returns the waits the loop asked for and the output. */
async function failedLogin(checkMs: number, result: ChainResult, extra: Partial<PopupOptions> = {}, lines = ["USER joe", "PASS guess", "QUIT"]) {
  let clock = 1_000;
  const waits: number[] = [];
  const channel = new LinesChannel(lines);
  await servePopup(channel, {
    timestamp: TS,
    offerApop: false,
    failureDelayMs: 2_000,
    now: () => clock,
    sleep: async (ms) => {
      waits.push(ms);
      clock += ms;
    },
    async authenticate() {
      clock += checkMs;
      return result;
    },
    ...extra,
  });
  return { waits, output: channel.output };
}

const REJECTED: ChainResult = { kind: "failed", failure: "rejected", detail: "checkpassword exit 1" };

describe("the failure delay counts the time the check took", () => {
  test("what is left of the delay: delay minus the check, never below zero", () => {
    expect(failureWaitMs(2_000, 0)).toBe(2_000);
    expect(failureWaitMs(2_000, 1_500)).toBe(500);
    expect(failureWaitMs(2_000, 2_000)).toBe(0);
    expect(failureWaitMs(2_000, 4_100)).toBe(0);
    expect(failureWaitMs(2_000, -5)).toBe(2_000); // a clock that went backwards gains nothing
  });

  test("a check of 1.5 s (a backend's own delay, a slow checkpassword) is followed by 0.5 s, not 2 s", async () => {
    const r = await failedLogin(1_500, REJECTED);
    expect(r.waits).toEqual([500]);
    expect(r.output).toContain("-ERR [AUTH] authorization failed\r\n");
  });

  test("a check as long as the delay or longer (a backend that served 2 s) is answered at once", async () => {
    expect((await failedLogin(2_000, REJECTED)).waits).toEqual([]);
    expect((await failedLogin(2_300, REJECTED)).waits).toEqual([]);
  });

  test("a quick refusal still waits the whole delay: a backend with none, a policy's refusal", async () => {
    expect((await failedLogin(0, REJECTED)).waits).toEqual([2_000]);
    let decoyClock = 0;
    const refused = await failedLogin(0, REJECTED, {
      admit: () => ({ refused: "not in the allowed users" }),
      decoy: () => {
        decoyClock += 25;
      },
    });
    expect(decoyClock).toBe(25);
    expect(refused.waits).toEqual([2_000]); // the decoy ran on the real clock, not the fake one: the whole delay
  });

  test("a temporary failure is answered without the delay, as before", async () => {
    expect((await failedLogin(100, { kind: "failed", failure: "temporary", detail: "exit 111" })).waits).toEqual([]);
  });

  test("each login of a session gets its own delay", async () => {
    const r = await failedLogin(500, REJECTED, {}, ["USER joe", "PASS one", "USER joe", "PASS two", "QUIT"]);
    expect(r.waits).toEqual([1_500, 1_500]);
  });
});
