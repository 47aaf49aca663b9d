import { describe, expect, test } from "bun:test";
import { authMessage, deriveKeys, parseClientFinal, parseClientFirst, proofMatches, serverSignature } from "../../mod/sasl/scram.ts";
import { decoyKeys, formatScramKeys, makeScramKeys, parseScramKeys, splitHashField } from "../../mod/sasl/scram_keys.ts";
import { ScramExchange, type SaslStep, type ScramServices } from "../../mod/sasl/scram_server.ts";
import { parseScramForm, verifyScramForm } from "../../mod/sasl/scram_form.ts";
import { ScramClient, unb64 } from "./scram_client.ts";

describe("SCRAM primitives: the RFC test vectors", () => {
  test("RFC 5802 section 5 (SCRAM-SHA-1, user/pencil)", () => {
    const salt = Buffer.from("QSXCR+Q6sek8bf92", "base64");
    const keys = deriveKeys("sha1", Buffer.from("pencil"), salt, 4096);
    const bare = "n=user,r=fyko+d2lbbFgONRv9qkxdawL";
    const first = "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
    const final = parseClientFinal("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", "sha1");
    if (!final.ok) throw new Error(final.why);
    const auth = authMessage(bare, first, final.value.withoutProof);
    expect(proofMatches("sha1", keys.storedKey, auth, final.value.proof)).toBe(true);
    expect(serverSignature("sha1", keys.serverKey, auth).toString("base64")).toBe("rmF9pqV8S7suAoZWja4dJRkFsKQ=");
    const wrong = deriveKeys("sha1", Buffer.from("pencils"), salt, 4096);
    expect(proofMatches("sha1", wrong.storedKey, auth, final.value.proof)).toBe(false);
  });

  test("RFC 7677 section 3 (SCRAM-SHA-256, user/pencil)", () => {
    const salt = Buffer.from("W22ZaJ0SNY7soEsUEjb6gQ==", "base64");
    const keys = deriveKeys("sha256", Buffer.from("pencil"), salt, 4096);
    const bare = "n=user,r=rOprNGfwEbeRWgbNEkqO";
    const first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const final = parseClientFinal("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "sha256");
    if (!final.ok) throw new Error(final.why);
    const auth = authMessage(bare, first, final.value.withoutProof);
    expect(proofMatches("sha256", keys.storedKey, auth, final.value.proof)).toBe(true);
    expect(serverSignature("sha256", keys.serverKey, auth).toString("base64")).toBe("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
  });

  test("client-first grammar: gs2 header, saslname escapes, authzid refused, bad messages refused", () => {
    const ok = parseClientFirst("p=tls-exporter,,n=a=2Cb=3Dc,r=abc");
    expect(ok.ok && ok.value).toMatchObject({ cbindFlag: "p", cbName: "tls-exporter", gs2Header: "p=tls-exporter,,", user: "a,b=c", clientNonce: "abc" });
    for (const bad of ["", "x,,n=u,r=a", "n,a=other,n=u,r=a", "n,,n=u", "n,,r=a,n=u", "n,,n=a=2Xb,r=a", "n,,m=ext,n=u,r=a", "n,,n=,r=a", "n,,n=u,r=a,b"]) {
      expect(parseClientFirst(bad).ok).toBe(false);
    }
  });

  test("stored keys: Dovecot's notation, round trip, and the hash field split", () => {
    const keys = makeScramKeys(Buffer.from("secret"));
    const text = formatScramKeys("sha256", keys.sha256!);
    expect(text).toMatch(/^\{SCRAM-SHA-256\}4096,[A-Za-z0-9+/=]{24},[A-Za-z0-9+/=]{44},[A-Za-z0-9+/=]{44}$/);
    expect(parseScramKeys(text)?.keys.storedKey.equals(keys.sha256!.storedKey)).toBe(true);
    expect(parseScramKeys("{SCRAM-SHA-256}4096,AAAA,AAAA,AAAA")).toBeUndefined(); // keys of the wrong length
    const split = splitHashField(`$y$abc ${formatScramKeys("sha1", keys.sha1!)} ${text}`);
    expect(split.hash).toBe("$y$abc");
    expect(split.scram.sha1?.salt.equals(keys.sha1!.salt)).toBe(true);
    expect(split.extra).toEqual([]);
    // The salts differ per hash and per call: one password, independent keys.
    expect(keys.sha1!.salt.equals(keys.sha256!.salt)).toBe(false);
  });

  test("decoy keys: the same salt for the same name every time, different for another name", () => {
    expect(decoyKeys("sha256", "nobody").salt.equals(decoyKeys("sha256", "nobody").salt)).toBe(true);
    expect(decoyKeys("sha256", "nobody").salt.equals(decoyKeys("sha256", "somebody").salt)).toBe(false);
  });
});

describe("SCRAM exchange (server side)", () => {
  const password = "correct horse";
  const stored = makeScramKeys(Buffer.from(password));
  const TS = "<42.1700000000@pop.example>";
  const services = (over: Partial<ScramServices> = {}): ScramServices => ({
    keys: (user, hash) => (user === "joe" ? stored[hash] : undefined),
    timestamp: TS,
    plusOffered: false,
    ...over,
  });
  const text = (step: SaslStep) => {
    if (step.kind !== "challenge") throw new Error(`expected a challenge, got ${JSON.stringify(step)}`);
    return Buffer.from(step.data).toString("utf8");
  };
  const run = (client: ScramClient, ex: ScramExchange, finalOf = (sf: string) => client.final(sf)) => {
    const sf = text(ex.step(Buffer.from(client.first())));
    return ex.step(Buffer.from(finalOf(sf)));
  };

  for (const [name, hash] of [["SCRAM-SHA-256", "sha256"], ["SCRAM-SHA-1", "sha1"]] as const) {
    test(`${name}: a correct password gets the server signature, then the checkpassword form that verifies`, () => {
      const client = new ScramClient(hash, "joe", password);
      const ex = new ScramExchange(name, hash, false, services());
      const v = text(run(client, ex));
      expect(v).toBe(client.expectedVerifier());
      const done = ex.step(new Uint8Array(0));
      if (done.kind !== "done") throw new Error(done.kind);
      expect(Buffer.from(done.user).toString()).toBe("joe");
      const form = parseScramForm(done.password)!;
      expect(form.hash).toBe(hash);
      expect(verifyScramForm(form, stored[hash]!, Buffer.from(TS))).toBe(true);
      // The same exchange under another connection's timestamp (a replay through PASS) fails.
      expect(verifyScramForm(form, stored[hash]!, Buffer.from("<43.1700000000@pop.example>"))).toBe(false);
      expect(verifyScramForm(form, stored[hash]!, new Uint8Array(0))).toBe(false);
    });
  }

  test("wrong password: refused without a server signature", () => {
    const step = run(new ScramClient("sha256", "joe", "wrong"), new ScramExchange("SCRAM-SHA-256", "sha256", false, services()));
    expect(step).toMatchObject({ kind: "refused", why: "wrong password or unknown user" });
  });

  test("a user without keys gets the same kind of challenge and fails at the proof", () => {
    const ex = new ScramExchange("SCRAM-SHA-256", "sha256", false, services());
    const client = new ScramClient("sha256", "ghost", password);
    const sf = text(ex.step(Buffer.from(client.first())));
    expect(sf).toMatch(/^r=[^,]+,s=[A-Za-z0-9+/]{22}==,i=4096$/);
    expect(ex.step(Buffer.from(client.final(sf)))).toMatchObject({ kind: "refused", why: "wrong password or unknown user" });
  });

  test("tampered proof: one bit flipped is refused", () => {
    const client = new ScramClient("sha256", "joe", password);
    const step = run(client, new ScramExchange("SCRAM-SHA-256", "sha256", false, services()), (sf) => {
      const final = client.final(sf);
      const proof = Buffer.from(final.slice(final.indexOf(",p=") + 3), "base64");
      proof[0] ^= 1;
      return `${final.slice(0, final.indexOf(",p=") + 3)}${proof.toString("base64")}`;
    });
    expect(step.kind).toBe("refused");
  });

  test("a client-final replayed into another exchange is refused (the server nonce is new each time)", () => {
    const client = new ScramClient("sha256", "joe", password, { nonce: "fixedclientnonce" });
    const first = new ScramExchange("SCRAM-SHA-256", "sha256", false, services());
    const recorded = client.final(text(first.step(Buffer.from(client.first()))));
    expect(first.step(Buffer.from(recorded)).kind).toBe("challenge");
    const second = new ScramExchange("SCRAM-SHA-256", "sha256", false, services());
    text(second.step(Buffer.from(client.first())));
    expect(second.step(Buffer.from(recorded))).toMatchObject({ kind: "refused", why: "nonce mismatch" });
  });

  test("nonce mismatch: a client-final with another nonce (valid proof over it) is refused", () => {
    const client = new ScramClient("sha256", "joe", password);
    const step = run(client, new ScramExchange("SCRAM-SHA-256", "sha256", false, services()), (sf) => client.final(sf, { nonce: `${client.nonce}forged` }));
    expect(step).toMatchObject({ kind: "refused", why: "nonce mismatch" });
  });

  test("channel binding: right data passes; wrong data, a missing binding and the y-flag downgrade are refused", () => {
    const cb = new Uint8Array(32).fill(7);
    const plus = services({ plusOffered: true, channelBinding: (type) => (type === "tls-exporter" ? cb : undefined) });
    const good = new ScramClient("sha256", "joe", password, { gs2: "p=tls-exporter,,", cbData: cb });
    expect(text(run(good, new ScramExchange("SCRAM-SHA-256-PLUS", "sha256", true, plus)))).toBe(good.expectedVerifier());
    const wrong = new ScramClient("sha256", "joe", password, { gs2: "p=tls-exporter,,", cbData: new Uint8Array(32).fill(8) });
    expect(run(wrong, new ScramExchange("SCRAM-SHA-256-PLUS", "sha256", true, plus))).toMatchObject({ kind: "refused", why: "channel binding mismatch" });
    const unsupported = new ScramClient("sha256", "joe", password, { gs2: "p=tls-unique,," });
    expect(new ScramExchange("SCRAM-SHA-256-PLUS", "sha256", true, plus).step(Buffer.from(unsupported.first()))).toMatchObject({ kind: "refused" });
    const unbound = new ScramClient("sha256", "joe", password);
    expect(new ScramExchange("SCRAM-SHA-256-PLUS", "sha256", true, plus).step(Buffer.from(unbound.first()))).toMatchObject({ kind: "refused" });
    const downgrade = new ScramClient("sha256", "joe", password, { gs2: "y,," });
    expect(new ScramExchange("SCRAM-SHA-256", "sha256", false, plus).step(Buffer.from(downgrade.first()))).toMatchObject({ kind: "refused" });
    // On plain text (nothing offered with -PLUS) the y flag is fine.
    expect(text(run(downgrade, new ScramExchange("SCRAM-SHA-256", "sha256", false, services())))).toBe(downgrade.expectedVerifier());
  });

  test("a c= that does not repeat the gs2 header is refused", () => {
    const client = new ScramClient("sha256", "joe", password);
    const step = run(client, new ScramExchange("SCRAM-SHA-256", "sha256", false, services()), (sf) => client.final(sf, { cbind: Buffer.from("y,,") }));
    expect(step).toMatchObject({ kind: "refused", why: "channel binding mismatch" });
  });

  test("an exchange that would not fit checkpassword's 512 octets is refused before the server signature", () => {
    const long = "j".repeat(200);
    const keys = (user: string, hash: "sha1" | "sha256") => (user === long ? stored[hash] : undefined);
    const client = new ScramClient("sha256", long, password, { nonce: "n".repeat(120) });
    const step = run(client, new ScramExchange("SCRAM-SHA-256", "sha256", false, services({ keys })));
    expect(step).toMatchObject({ kind: "refused", why: "exchange longer than checkpassword's 512 octets" });
    // A shorter name with the same password goes through.
    const fits = new ScramClient("sha256", "joe", password, { nonce: "n".repeat(40) });
    expect(run(fits, new ScramExchange("SCRAM-SHA-256", "sha256", false, services())).kind).toBe("challenge");
  });

  test("data after the server signature, and steps after the end, are refused", () => {
    const client = new ScramClient("sha256", "joe", password);
    const ex = new ScramExchange("SCRAM-SHA-256", "sha256", false, services());
    text(run(client, ex));
    expect(ex.step(Buffer.from("extra")).kind).toBe("refused");
    expect(ex.step(new Uint8Array(0)).kind).toBe("malformed");
    expect(unb64(Buffer.from("dj0=").toString())).toBe("v=");
  });
});
