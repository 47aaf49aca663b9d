/**
 * SCRAM through popup's loop (mod/session/login_loop.ts) and checkpassword's decision
 * (mod/auth/authenticate.ts) with a real user database written by `poppin users`:
 * what a client sees on the wire, what reaches fd 3, and each refusal as -ERR [AUTH].
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { authenticate } from "../../mod/auth/authenticate.ts";
import { authConfigFromEnv } from "../../mod/auth/config.ts";
import { parseRequest } from "../../mod/auth/request.ts";
import { servePopup, type ChainResult, type PopupChannel, type PopupOptions } from "../../mod/session/login_loop.ts";
import { userdbScramKeys } from "../../mod/sasl/scram_userdb.ts";
import { bearerExchange } from "../../mod/sasl/oauthbearer.ts";
import type { ChannelBindingType } from "../../mod/sasl/scram.ts";
import { POPPIN, run } from "../helpers.ts";
import { ownTempDirs } from "../auth/temp.ts";
import { b64, ScramClient, unb64 } from "./scram_client.ts";

const tempDir = ownTempDirs();
const TS = "<77.1700000000@pop.example>";

/** A client that answers each server line through `reply` (undefined: wait for more). */
class ScriptedChannel implements PopupChannel {
  output = "";
  #queue: string[] = [];
  #line = "";
  constructor(readonly reply: (line: string) => string | undefined, readonly cb?: (type: ChannelBindingType) => Uint8Array | undefined) {}
  channelBinding(type: ChannelBindingType) {
    return this.cb?.(type);
  }
  write(bytes: Uint8Array): void {
    const text = Buffer.from(bytes).toString("latin1");
    this.output += text;
    this.#line += text;
    let nl: number;
    while ((nl = this.#line.indexOf("\r\n")) >= 0) {
      const line = this.#line.slice(0, nl);
      this.#line = this.#line.slice(nl + 2);
      const answer = this.reply(line);
      if (answer !== undefined) this.#queue.push(answer);
    }
  }
  readToLineEnd(buf: Uint8Array): number {
    const next = this.#queue.shift();
    if (next === undefined) return 0;
    // As a socket does: at most buf.length octets, the rest on the next read.
    const bytes = Buffer.from(next.endsWith("\n") ? next : `${next}\r\n`, "latin1");
    const n = Math.min(bytes.length, buf.length);
    buf.set(bytes.subarray(0, n));
    if (n < bytes.length) this.#queue.unshift(bytes.subarray(n).toString("latin1"));
    return n;
  }
}

function userdb(): string {
  const dir = tempDir("scram");
  const file = join(dir, "users");
  for (const [login, pw] of [["joe", "joe's password"], ["ann", "ann pw"]]) {
    expect(run([POPPIN, "users", "-f", file, "add", login, "5000", "5000", `/home/${login}`], { stdin: `${pw}\n` }).code).toBe(0);
  }
  return `${file}.cdb`;
}

/** Runs one session; the client script gets each server line. Returns the output, fd-3 requests and failures. */
async function session(db: string, script: (line: string) => string | undefined, cb?: (type: ChannelBindingType) => Uint8Array | undefined, tls = false, extra: Partial<PopupOptions> = {}) {
  const channel = new ScriptedChannel(script, cb);
  const seen: string[] = [];
  const failures: string[] = [];
  const end = await servePopup(channel, {
    timestamp: TS,
    offerApop: false,
    tls,
    scramKeys: userdbScramKeys(db),
    async authenticate(data): Promise<ChainResult> {
      seen.push(Buffer.from(data).toString("utf8"));
      try {
        const result = authenticate(parseRequest(data), authConfigFromEnv({ POPPIN_MIN_UID: "0" }, db), { euid: 0, today: 20000 });
        return result.method === "scram" ? { kind: "served" } : { kind: "failed", failure: "rejected", detail: "not scram" };
      } catch {
        return { kind: "failed", failure: "rejected", detail: "checkpassword exit 1" };
      }
    },
    onFailure: (user, failure, detail, mech) => failures.push(`${Buffer.from(user)} ${failure} ${detail} mech=${mech}`),
    ...extra,
  });
  return { end, output: channel.output, seen, failures };
}

/** A client script: AUTH, then the two SCRAM steps, then the empty answer to v=. */
function scramScript(client: ScramClient, mech: string, final = (sf: string) => client.final(sf)) {
  let stage = 0;
  return (line: string): string | undefined => {
    if (stage === 0 && line.startsWith("+OK")) return (stage = 1), `AUTH ${mech} ${b64(client.first())}`;
    if (stage === 1 && line.startsWith("+ ")) return (stage = 2), b64(final(unb64(line.slice(2))));
    if (stage === 2 && line.startsWith("+ ")) {
      stage = 3;
      expect(unb64(line.slice(2))).toBe(client.expectedVerifier());
      return "";
    }
    if (line.startsWith("-ERR")) return "QUIT";
    return undefined;
  };
}

describe("SCRAM over POP3 AUTH (popup and checkpassword)", () => {
  const db = userdb();

  test("CAPA offers SCRAM (with -PLUS only on TLS with binding data) where the user database is in use", async () => {
    const capa = (line: string) => (line.startsWith("+OK ") && !line.includes("capability") ? "CAPA" : line === "." ? "QUIT" : undefined);
    const plain = await session(db, capa);
    expect(plain.output).toContain("SASL PLAIN SCRAM-SHA-256 SCRAM-SHA-1\r\n");
    const secure = await session(db, capa, () => new Uint8Array(32), true);
    expect(secure.output).toContain("SASL PLAIN SCRAM-SHA-256-PLUS SCRAM-SHA-256 SCRAM-SHA-1-PLUS SCRAM-SHA-1\r\n");
    // Without a user database (system accounts): no keys, no SCRAM.
    const channel = new ScriptedChannel(capa);
    await servePopup(channel, { timestamp: TS, offerApop: false, authenticate: async () => ({ kind: "served" }) });
    expect(channel.output).toContain("SASL PLAIN\r\n");
    expect(channel.output).not.toContain("SCRAM");
  });

  for (const [mech, hash] of [["SCRAM-SHA-256", "sha256"], ["SCRAM-SHA-1", "sha1"]] as const) {
    test(`${mech}: logs in; fd 3 gets user NUL the exchange NUL timestamp NUL`, async () => {
      const s = await session(db, scramScript(new ScramClient(hash, "joe", "joe's password"), mech));
      expect(s.end).toBe("served");
      expect(s.seen.length).toBe(1);
      const [user, form, ts, rest] = s.seen[0].split("\0");
      expect([user, ts, rest]).toEqual(["joe", TS, ""]);
      expect(form).toStartWith(`{${mech}}n=joe,r=`);
      expect(form.split("\n").length).toBe(3);
      expect(Buffer.byteLength(s.seen[0])).toBeLessThanOrEqual(512);
    });
  }

  test("SCRAM-SHA-256-PLUS with tls-server-end-point and tls-exporter data from the channel", async () => {
    const cb = (type: ChannelBindingType) => new Uint8Array(32).fill(type === "tls-exporter" ? 1 : 2);
    for (const type of ["tls-exporter", "tls-server-end-point"] as const) {
      const client = new ScramClient("sha256", "joe", "joe's password", { gs2: `p=${type},,`, cbData: cb(type) });
      const s = await session(db, scramScript(client, "SCRAM-SHA-256-PLUS"), cb, true);
      expect(s.end).toBe("served");
    }
  });

  const refusals: [string, () => { client: ScramClient; mech: string; final?: (c: ScramClient, sf: string) => string; cb?: Uint8Array }][] = [
    ["wrong password", () => ({ client: new ScramClient("sha256", "joe", "guess"), mech: "SCRAM-SHA-256" })],
    ["unknown user", () => ({ client: new ScramClient("sha256", "nobody", "guess"), mech: "SCRAM-SHA-256" })],
    ["tampered proof", () => ({
      client: new ScramClient("sha256", "joe", "joe's password"), mech: "SCRAM-SHA-256",
      final: (c, sf) => c.final(sf).replace(/p=(.)/, (_, ch) => `p=${ch === "A" ? "B" : "A"}`),
    })],
    ["nonce mismatch", () => ({ client: new ScramClient("sha256", "joe", "joe's password"), mech: "SCRAM-SHA-256", final: (c, sf) => c.final(sf, { nonce: `${c.nonce}x` }) })],
    ["wrong channel binding", () => ({
      client: new ScramClient("sha256", "joe", "joe's password", { gs2: "p=tls-exporter,,", cbData: new Uint8Array(32).fill(9) }), mech: "SCRAM-SHA-256-PLUS",
    })],
  ];
  for (const [name, make] of refusals) {
    test(`${name}: -ERR [AUTH], no server signature, nothing reaches checkpassword, a logged failure with mech=`, async () => {
      const { client, mech, final } = make();
      let stage = 0;
      const s = await session(db, (line) => {
        if (stage === 0 && line.startsWith("+OK")) return (stage = 1), `AUTH ${mech} ${b64(client.first())}`;
        if (stage === 1 && line.startsWith("+ ")) return (stage = 2), b64(final ? final(client, unb64(line.slice(2))) : client.final(unb64(line.slice(2))));
        if (line.startsWith("-ERR")) return "QUIT";
        return undefined;
      }, () => new Uint8Array(32).fill(1), true);
      expect(s.output).toContain("-ERR [AUTH] authorization failed\r\n");
      expect(s.output).not.toContain(b64("v="));
      expect(s.seen).toEqual([]);
      expect(s.failures).toEqual([expect.stringMatching(new RegExp(`^${client.user} rejected .* mech=${mech}$`))]);
      expect(s.end).toBe("quit");
    });
  }

  test("a client-final replayed in a second session is refused", async () => {
    const client = new ScramClient("sha256", "joe", "joe's password", { nonce: "replayednonce" });
    let recorded = "";
    const first = await session(db, scramScript(client, "SCRAM-SHA-256", (sf) => (recorded = client.final(sf))));
    expect(first.end).toBe("served");
    let stage = 0;
    const second = await session(db, (line) => {
      if (stage === 0 && line.startsWith("+OK")) return (stage = 1), `AUTH SCRAM-SHA-256 ${b64(client.first())}`;
      if (stage === 1 && line.startsWith("+ ")) return (stage = 2), b64(recorded);
      if (line.startsWith("-ERR")) return "QUIT";
      return undefined;
    });
    expect(second.output).toContain("-ERR [AUTH] authorization failed\r\n");
    expect(second.failures[0]).toContain("nonce mismatch");
  });

  test("the fd-3 form replayed through PASS (or under another timestamp) is refused by checkpassword", async () => {
    const s = await session(db, scramScript(new ScramClient("sha256", "joe", "joe's password"), "SCRAM-SHA-256"));
    const [, form] = s.seen[0].split("\0");
    const check = (ts: string) => authenticate(parseRequest(Buffer.from(`joe\0${form}\0${ts}\0`)), authConfigFromEnv({ POPPIN_MIN_UID: "0" }, db), { euid: 0, today: 20000 });
    expect(check(TS).method).toBe("scram");
    expect(() => check("<78.1700000000@pop.example>")).toThrow("wrong password");
    // The proof is joe's: presented for ann it opens nothing.
    expect(() => authenticate(parseRequest(Buffer.from(`ann\0${form}\0${TS}\0`)), authConfigFromEnv({ POPPIN_MIN_UID: "0" }, db), { euid: 0, today: 20000 })).toThrow("wrong password");
  });

  test("the per-address limit and the failure delay apply to SCRAM as to any login", async () => {
    const blocked = await session(db, scramScript(new ScramClient("sha256", "joe", "joe's password"), "SCRAM-SHA-256"), undefined, false, {
      admit: () => ({ refused: "too many failed logins from this address" }),
    });
    expect(blocked.end).toBe("quit");
    // The exchange runs to the proof like any other and fails there: no server signature to confirm a guess.
    expect(blocked.output).toMatch(/^\+OK \r\n\+ [A-Za-z0-9+/=]+\r\n-ERR \[AUTH\] authorization failed\r\n\+OK \r\n$/);
    expect(blocked.seen).toEqual([]);
    expect(blocked.failures[0]).toContain("too many failed logins");
    const started = Date.now();
    let stage = 0;
    const client = new ScramClient("sha256", "joe", "wrong");
    await session(db, (line) => {
      if (stage === 0 && line.startsWith("+OK")) return (stage = 1), `AUTH SCRAM-SHA-256 ${b64(client.first())}`;
      if (stage === 1 && line.startsWith("+ ")) return (stage = 2), b64(client.final(unb64(line.slice(2))));
      if (line.startsWith("-ERR")) return "QUIT";
      return undefined;
    }, undefined, false, { failureDelayMs: 300 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  test("OAUTHBEARER and XOAUTH2 are offered only where clear-text passwords are (a token is sent as it is)", async () => {
    const capa = (line: string) => (line.startsWith("+OK ") && !line.includes("capability") ? "CAPA" : line === "." ? "QUIT" : undefined);
    const open = await session(db, capa, undefined, false, { bearer: bearerExchange });
    expect(open.output).toContain("SASL PLAIN SCRAM-SHA-256 SCRAM-SHA-1 OAUTHBEARER XOAUTH2\r\n");
    const tlsOnly = { clearTextRefusal: (tls: boolean) => (tls ? undefined : "[AUTH] clear-text passwords need TLS: send STLS first"), stls: true };
    const lines = ["CAPA", "AUTH OAUTHBEARER", "QUIT"];
    const closed = await session(db, (line) => (line.startsWith("+OK ") && !line.includes("capability") || line === "." || line.startsWith("-ERR") ? lines.shift() : undefined), undefined, false, { bearer: bearerExchange, policy: tlsOnly });
    expect(closed.output).toContain("SASL SCRAM-SHA-256 SCRAM-SHA-1\r\n");
    expect(closed.output).toContain("-ERR [AUTH] unsupported mechanism\r\n");
  });

  test("only AUTH lines and SASL responses may exceed 255 octets", async () => {
    const lines = [`NOOP ${"x".repeat(300)}`, `AUTH SCRAM-SHA-256 ${"A".repeat(400)}`, "QUIT"];
    const s = await session(db, (line) => (line.startsWith("+") || line.startsWith("-ERR") ? lines.shift() : undefined));
    expect(s.output).toBe("+OK \r\n-ERR command line too long\r\n-ERR [AUTH] invalid SASL response: bad gs2 header\r\n+OK \r\n");
  });

  test("cancel with *, bad base64, unknown mechanism", async () => {
    const lines = ["AUTH SCRAM-SHA-256", "*", "AUTH SCRAM-SHA-256 !!!", "AUTH SCRAM-MD5", "QUIT"];
    const s = await session(db, (line) => (line.startsWith("+") || line.startsWith("-ERR") ? lines.shift() : undefined));
    expect(s.output).toBe("+OK \r\n+ \r\n-ERR [AUTH] authentication cancelled\r\n-ERR [AUTH] invalid base64 in the response\r\n-ERR [AUTH] unsupported mechanism\r\n+OK \r\n");
  });

  test("a user the lists refuse gets the salt and fails at the proof, exactly as a wrong password: the exchange does not tell who is listed", async () => {
    // auth-file lists joe only: ann (who exists, with keys) is refused by the policy.
    const onlyJoe = { admit: (a: { user: Uint8Array }) => (Buffer.from(a.user).toString() === "joe" ? { user: a.user } : { refused: "not in auth-file" }) };
    const transcript = async (user: string, password: string) => {
      const client = new ScramClient("sha256", user, password, { nonce: "fixednonce" });
      let stage = 0;
      const s = await session(db, (line) => {
        if (stage === 0 && line.startsWith("+OK")) return (stage = 1), `AUTH SCRAM-SHA-256 ${b64(client.first())}`;
        if (stage === 1 && line.startsWith("+ ")) return (stage = 2), b64(client.final(unb64(line.slice(2))));
        if (line.startsWith("-ERR")) return "QUIT";
        return undefined;
      }, undefined, false, onlyJoe);
      return { ...s, shape: s.output.replace(/^\+ \S+$/m, "+ CHALLENGE") };
    };
    const wrong = await transcript("joe", "guess");
    const refusedRight = await transcript("ann", "ann pw");
    const refusedWrong = await transcript("ann", "guess");
    expect(wrong.shape).toBe("+OK \r\n+ CHALLENGE\r\n-ERR [AUTH] authorization failed\r\n+OK \r\n");
    expect(refusedRight.shape).toBe(wrong.shape);
    expect(refusedWrong.shape).toBe(wrong.shape);
    // ann's right password gets no server signature, and nothing reaches checkpassword; the log says why.
    expect(refusedRight.seen).toEqual([]);
    expect(refusedRight.failures).toEqual(["ann rejected not in auth-file mech=SCRAM-SHA-256"]);
  });

  test("an authzid (a=) naming the user itself is the user's own login, as with PLAIN; another user's is refused", async () => {
    for (const authzid of ["joe", "JOE"]) {
      const s = await session(db, scramScript(new ScramClient("sha256", "joe", "joe's password", { gs2: `n,a=${authzid},` }), "SCRAM-SHA-256"));
      expect(s.end).toBe("served");
      expect(s.seen[0].split("\0")[0]).toBe("joe");
    }
    for (const [gs2, why] of [["n,a=ann,", "acting as another user (authzid) is not supported"], ["n,a=,", "bad authorization identity"], ["n,a=j=4Foe,", "bad authorization identity"]]) {
      const lines = [`AUTH SCRAM-SHA-256 ${b64(new ScramClient("sha256", "joe", "joe's password", { gs2 }).first())}`, "QUIT"];
      const s = await session(db, (line) => (line.startsWith("+OK") || line.startsWith("-ERR") ? lines.shift() : undefined));
      expect(s.output).toBe(`+OK \r\n-ERR [AUTH] invalid SASL response: ${why}\r\n+OK \r\n`);
      expect(s.seen).toEqual([]);
    }
  });

  test("a first message that is not UTF-8 is refused before any salt (a lossy decoding would look up another name)", async () => {
    const lines = [`AUTH SCRAM-SHA-256 ${Buffer.from("n,,n=j\xf6rg,r=abcdefgh", "latin1").toString("base64")}`, `AUTH OAUTHBEARER ${Buffer.from("n,a=j\xf6rg,\x01auth=Bearer t\x01\x01", "latin1").toString("base64")}`, "AQ==", "QUIT"];
    const s = await session(db, (line) => (line.startsWith("+") || line.startsWith("-ERR") ? lines.shift() : undefined), undefined, false, { bearer: bearerExchange });
    const invalidRequest = `+ ${Buffer.from('{"status":"invalid_request"}').toString("base64")}`;
    expect(s.output).toBe(`+OK \r\n-ERR [AUTH] invalid SASL response: not UTF-8\r\n${invalidRequest}\r\n-ERR [AUTH] invalid SASL response: not UTF-8\r\n+OK \r\n`);
  });
});
