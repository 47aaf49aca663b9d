/**
 * The formats that came with the second wave: SASL PLAIN's base64 (mod/pop3/sasl_plain.ts),
 * QMQP's netstrings (mod/qmqp/parser.ts) and the Qpopper-style configuration file
 * (mod/policy/config_file.ts). Each either answers with its documented outcome or throws its
 * own typed error, on any input; well-formed input round-trips.
 */
import fc from "fast-check";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PermError } from "../../../mod/base/errors.ts";
import { decodePlain } from "../../../mod/pop3/sasl_plain.ts";
import { MAX_ADDRESS, QmqpParser, QmqpProtocolError } from "../../../mod/qmqp/parser.ts";
import { readConfigFile } from "../../../mod/policy/config_file.ts";
import { OPTION_SPECS, checkValue, optionSpec } from "../../../mod/policy/options.ts";
import { bytesOf, latin1, type FuzzTarget } from "../target.ts";

function fail(message: string): never {
  throw new Error(message);
}

const B64_STRICT = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export const saslPlain: FuzzTarget = {
  name: "sasl-plain",
  module: "mod/pop3/sasl_plain.ts",
  ciRuns: 3000,
  check(numRuns, seed) {
    const b64ish = fc.array(fc.constantFrom(..."ABCabc012+/=\0 \r*AA==".split("")), { maxLength: 40 }).map((a) => bytesOf(a.join("")));
    fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 60 }), b64ish), (line) => {
      const r = decodePlain(line);
      const text = latin1(line);
      if (r.kind === "ok" && !B64_STRICT.test(text)) fail(`accepted non-base64 ${JSON.stringify(text)}`);
      if (r.kind === "ok" && (r.user.length === 0 || r.password.length === 0 || r.user.includes(0) || r.password.includes(0))) fail("bad fields accepted");
      return true;
    }), { numRuns, seed });
    const field = fc.uint8Array({ minLength: 1, maxLength: 40 }).map((b) => b.map((x) => (x === 0 ? 1 : x)));
    fc.assert(fc.property(field, field, fc.boolean(), (user, password, withAuthz) => {
      const message = Buffer.concat([withAuthz ? user : new Uint8Array(), Buffer.from([0]), user, Buffer.from([0]), password]);
      const r = decodePlain(bytesOf(message.toString("base64")));
      if (r.kind !== "ok") fail(`${JSON.stringify(r)} for a well-formed response`);
      if (latin1(r.user) !== latin1(user) || latin1(r.password) !== latin1(password)) fail("round trip");
      return true;
    }), { numRuns: Math.ceil(numRuns / 3), seed });
  },
};

function netstring(bytes: Uint8Array): Uint8Array {
  return Uint8Array.from([...bytesOf(`${bytes.length}:`), ...bytes, 0x2c]);
}

function feedAll(parser: QmqpParser, stream: Uint8Array, cuts: number[]): number {
  let used = 0;
  for (let at = 0, c = 0; at < stream.length && !parser.done; c++) {
    const chunk = stream.subarray(at, at + cuts[c % cuts.length]!);
    const n = parser.feed(chunk);
    if (n < 0 || n > chunk.length) fail(`feed used ${n} of ${chunk.length}`);
    if (n < chunk.length && !parser.done) fail("stopped early without being done");
    used += n;
    at += chunk.length;
  }
  return used;
}

export const qmqpNetstrings: FuzzTarget = {
  name: "qmqp-netstrings",
  module: "mod/qmqp/parser.ts",
  ciRuns: 2000,
  check(numRuns, seed) {
    const limits = { maxMessage: 300, maxRecipients: 3 };
    const cuts = fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 5 });
    const noisy = fc.array(fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x30, 0x31, 0x35, 0x39, 0x3a, 0x2c)), { maxLength: 200 }).map((a) => Uint8Array.from(a));
    fc.assert(fc.property(noisy, cuts, (stream, c) => {
      const parser = new QmqpParser(limits);
      try {
        feedAll(parser, stream, c);
      } catch (e) {
        if (!(e instanceof QmqpProtocolError)) throw e;
        return true;
      }
      const r = parser.request;
      if (r.recipients.length > limits.maxRecipients) fail("more recipients than the limit");
      if (r.message.reduce((s, m) => s + m.length, 0) > limits.maxMessage) fail("kept a message over the limit");
      return true;
    }), { numRuns, seed });
    const address = fc.uint8Array({ maxLength: 20 }).map((b) => b.map((x) => (x === 0 ? 0x61 : x)));
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), address, fc.array(address, { minLength: 1, maxLength: 5 }), cuts, fc.uint8Array({ maxLength: 10 }),
      (message, sender, recipients, c, after) => {
        const inner = Uint8Array.from([...netstring(message), ...netstring(sender), ...recipients.flatMap((r) => [...netstring(r)])]);
        const request = netstring(inner);
        const parser = new QmqpParser(limits);
        const used = feedAll(parser, Uint8Array.from([...request, ...after]), c);
        if (!parser.done || used !== request.length) fail(`used ${used} of ${request.length}, done ${parser.done}`);
        const r = parser.request;
        if (r.messageSize !== message.length) fail("message size");
        if (r.tooBig !== message.length > limits.maxMessage) fail("tooBig flag");
        if (!r.tooBig && latin1(Buffer.concat(r.message)) !== latin1(message)) fail("message bytes");
        if (latin1(r.sender) !== latin1(sender)) fail("sender");
        const kept = recipients.slice(0, limits.maxRecipients).map(latin1);
        if (JSON.stringify(r.recipients.map(latin1)) !== JSON.stringify(kept)) fail("recipients");
        if (r.tooManyRecipients !== recipients.length > limits.maxRecipients) fail("tooManyRecipients flag");
        if (r.badAddress || MAX_ADDRESS < 20) fail("badAddress on short addresses");
        return true;
      }), { numRuns: Math.ceil(numRuns / 2), seed });
  },
};

export const policyConfig: FuzzTarget = {
  name: "config-file",
  module: "mod/policy/config_file.ts",
  ciRuns: 600,
  check(numRuns, seed) {
    const dir = mkdtempSync(join(tmpdir(), "poppin-fuzz-conf-"));
    try {
      const file = join(dir, "poppin.conf");
      const names = OPTION_SPECS.map((s) => s.name).filter((n) => n !== "config-file");
      const word = fc.oneof(fc.constantFrom("set", "reset", "=", "#", "\"", "\"a b\"", "SET", "yes", "0", "1", "-1", "99999999999", "tls", "never", ...names), fc.string({ maxLength: 6 }));
      const line = fc.tuple(fc.array(word, { maxLength: 5 }), fc.constantFrom(" ", "\t", " = ")).map(([w, sep]) => w.join(sep));
      fc.assert(fc.property(fc.array(line, { maxLength: 8 }), (lines) => {
        writeFileSync(file, lines.join("\n"), "latin1");
        let settings;
        try {
          settings = readConfigFile(file);
        } catch (e) {
          if (!(e instanceof PermError)) throw e;
          if (!e.message.startsWith(`${file} line `)) fail(`error without file and line: ${e.message}`);
          return true;
        }
        for (const [name, value] of settings) {
          const spec = optionSpec(name) ?? fail(`unknown option ${name} kept`);
          const checked = checkValue(spec, value);
          if ("error" in checked || checked.value !== value) fail(`kept an invalid value ${name}=${value}`);
        }
        return true;
      }), { numRuns, seed });
      // A file that chains to itself is refused, not followed forever.
      writeFileSync(file, `set config-file = ${file}\n`);
      try {
        readConfigFile(file);
        fail("a config-file loop was followed");
      } catch (e) {
        if (!(e instanceof PermError)) throw e;
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
