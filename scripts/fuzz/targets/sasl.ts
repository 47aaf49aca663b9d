/**
 * The SASL messages a client controls: SCRAM's client-first and client-final (mod/sasl/
 * scram.ts) through a whole server exchange (scram_server.ts), the checkpassword form of
 * fd 3 (scram_form.ts), and OAUTHBEARER/XOAUTH2 (oauthbearer.ts). On any input each
 * answers with one of its documented outcomes (never throws), never proves a login it
 * was not given the password for, and well-formed messages round-trip.
 */
import fc from "fast-check";
import { parseClientFinal, parseClientFirst } from "../../../mod/sasl/scram.ts";
import { parseScramForm, verifyScramForm } from "../../../mod/sasl/scram_form.ts";
import { decoyKeys } from "../../../mod/sasl/scram_keys.ts";
import { ScramExchange } from "../../../mod/sasl/scram_server.ts";
import { BearerExchange, parseBearerForm, parseOAuthBearer, parseXOAuth2 } from "../../../mod/sasl/oauthbearer.ts";
import { bytesOf, latin1, type FuzzTarget } from "../target.ts";

function fail(message: string): never {
  throw new Error(message);
}

/** Text built from SCRAM's own punctuation and names, so the parsers get past their first checks. */
const scramish = fc.array(fc.constantFrom("n", "y", "p=", "tls-exporter", ",", "a=", "n=", "r=", "c=", "s=", "i=", "p=", "=2C", "=3D", "=", "biws", "abc", "\0", "\u00e9", "AAAA", "=="), { maxLength: 24 }).map((a) => a.join(""));

const KEYS = decoyKeys("sha256", "fuzz");

/** Well-formed client-first messages with random names, nonces and extensions. */
const clientFirst = fc.tuple(fc.constantFrom("n,,", "y,,", "p=tls-exporter,,", "n,a=x,"), fc.string({ minLength: 1, maxLength: 12 }), fc.stringMatching(/^[!-+\--~]{1,30}$/), fc.constantFrom("", ",x=1", ",m=2"))
  .map(([gs2, name, nonce, ext]) => `${gs2}n=${name},r=${nonce}${ext}`);

export const scramMessages: FuzzTarget = {
  name: "sasl-scram",
  module: "mod/sasl/scram_server.ts",
  ciRuns: 3000,
  check(numRuns, seed) {
    fc.assert(fc.property(fc.oneof(scramish, fc.string({ maxLength: 80 }), clientFirst), fc.oneof(scramish, fc.string({ maxLength: 120 })), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.boolean(), (first, final, proof, useNonce) => {
      const f = parseClientFirst(first);
      if (f.ok && (f.value.user === "" || f.value.clientNonce.includes(","))) fail(`accepted ${JSON.stringify(first)}`);
      const c = parseClientFinal(final, "sha256");
      if (c.ok && c.value.proof.length !== 32) fail("proof of the wrong length accepted");
      // A whole exchange with keys nobody knows: any messages end refused or malformed, never "done".
      const ex = new ScramExchange("SCRAM-SHA-256", "sha256", false, { keys: () => KEYS, timestamp: "<1.2@fuzz>", plusOffered: false });
      const one = ex.step(bytesOf(first));
      if (one.kind === "done") fail("done after one message");
      if (one.kind === "challenge") {
        // Either random text, or a well-formed final with the server's own nonce and a random proof.
        const nonce = /^r=([^,]*)/.exec(latin1(one.data))?.[1] ?? "";
        const message = useNonce ? `c=biws,r=${nonce},p=${Buffer.from(proof).toString("base64")}` : final;
        const two = ex.step(bytesOf(message));
        if (two.kind !== "refused") fail(`${two.kind} for a random client-final`);
      }
      return true;
    }), { numRuns, seed });
    // The checkpassword form: any password field either is not one, or does not verify.
    fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), scramish.map((s) => bytesOf(`{SCRAM-SHA-256}${s}\n${s}\n${s}`))), (field) => {
      const form = parseScramForm(field);
      if (form !== undefined && verifyScramForm(form, KEYS, bytesOf("<1.2@fuzz>"))) fail(`${JSON.stringify(latin1(field))} verified`);
      return true;
    }), { numRuns: Math.ceil(numRuns / 2), seed });
  },
};

const bearerish = fc.array(fc.constantFrom("n", ",", "a=", "user=", "demo", "\x01", "auth=", "Bearer ", "bearer ", "tok.en", "host=x", "=2C", "=", " ", "p=tls-exporter", "\0"), { maxLength: 20 }).map((a) => a.join(""));

export const oauthBearerMessages: FuzzTarget = {
  name: "sasl-oauthbearer",
  module: "mod/sasl/oauthbearer.ts",
  ciRuns: 3000,
  check(numRuns, seed) {
    fc.assert(fc.property(fc.oneof(bearerish, fc.string({ maxLength: 120 })), (text) => {
      for (const parsed of [parseOAuthBearer(text), parseXOAuth2(text)]) {
        if (parsed.ok && (parsed.value.user === "" || parsed.value.user.includes("\0") || !/^[A-Za-z0-9\-._~+/]+=*$/.test(parsed.value.token))) fail(`accepted ${JSON.stringify(text)}`);
      }
      for (const mech of ["OAUTHBEARER", "XOAUTH2"] as const) {
        const exchange = new BearerExchange(mech);
        const step = exchange.step(bytesOf(text));
        if (step.kind !== "done" && step.kind !== "challenge") fail(`${step.kind}`);
        // A malformed message gets the error JSON (RFC 7628 section 3.2.2); the client's answer ends it.
        if (step.kind === "challenge") {
          const status = JSON.parse(latin1(step.data)).status;
          if (status !== (mech === "OAUTHBEARER" ? "invalid_request" : "400")) fail(`error status ${status}`);
          if (exchange.step(bytesOf("\x01")).kind !== "malformed") fail("exchange went on after the error JSON");
        }
        // A NUL in the user would split fd 3's user\0password\0timestamp\0 elsewhere.
        if (step.kind === "done" && step.user.includes(0)) fail("NUL in the user name accepted");
        // fd 3 never carries the token, only its digest.
        if (step.kind === "done" && (parseBearerForm(step.password) === undefined || latin1(step.password).includes(step.bearer!))) fail("token on fd 3");
      }
      return true;
    }), { numRuns, seed });
    const token = fc.stringMatching(/^[A-Za-z0-9\-._~+/]{1,60}=*$/);
    const user = fc.stringMatching(/^[a-z0-9@.]{1,20}$/);
    fc.assert(fc.property(user, token, (u, t) => {
      const a = parseOAuthBearer(`n,a=${u},\x01auth=Bearer ${t}\x01\x01`);
      const b = parseXOAuth2(`user=${u}\x01auth=Bearer ${t}\x01\x01`);
      if (!a.ok || !b.ok || a.value.user !== u || a.value.token !== t || b.value.token !== t) fail(`round trip ${u} ${t}`);
      return true;
    }), { numRuns: Math.ceil(numRuns / 3), seed });
  },
};
