/**
 * The multilog script and its patterns (mod/log), and checkpassword's fd-3 data
 * (mod/auth/request.ts): any arguments give a script within multilog's bounds; any fd-3
 * bytes either split into login, password and timestamp that rebuild the input, or are
 * refused with MalformedRequest (exit 2), never another error.
 */
import fc from "fast-check";
import { MAX_SIZE, MIN_NUM, MIN_SIZE, parseScript } from "../../../mod/log/script.ts";
import { patternMatches } from "../../../mod/log/pattern.ts";
import { MalformedRequest, parseRequest } from "../../../mod/auth/request.ts";
import { bytesOf, latin1, type FuzzTarget } from "../target.ts";

function fail(message: string): never {
  throw new Error(message);
}

const scriptArg = fc.oneof(
  fc.tuple(fc.constantFrom("+", "-", "e", "=", "s", "n", "!", ".", "/", "t", "x", ""), fc.string({ maxLength: 25 })).map(([a, b]) => a + b),
  fc.tuple(fc.constantFrom("s", "n"), fc.stringMatching(/^[0-9]{0,30}[a-z]?$/)).map(([a, b]) => a + b),
);

/** A reference matcher for multilog patterns, written from match.c's description independently of pattern.ts. */
function referenceMatch(pattern: string, line: string): boolean {
  if (pattern === "") return line === "";
  if (pattern[0] !== "*") return line !== "" && line[0] === pattern[0] && referenceMatch(pattern.slice(1), line.slice(1));
  if (pattern.length === 1) return true;
  const stop = pattern[1]!;
  const at = line.indexOf(stop);
  return at >= 0 && referenceMatch(pattern.slice(1), line.slice(at));
}

export const multilogScript: FuzzTarget = {
  name: "multilog-script",
  module: "mod/log/script.ts, pattern.ts",
  ciRuns: 3000,
  check(numRuns, seed) {
    fc.assert(fc.property(fc.array(scriptArg, { maxLength: 12 }), (args) => {
      const script = parseScript(args);
      const dirs = args.filter((a) => a[0] === "." || a[0] === "/");
      if (script.dirs.length !== dirs.length) fail("directories lost");
      for (const d of script.dirs) {
        if (!(d.size >= MIN_SIZE && d.size <= MAX_SIZE)) fail(`size ${d.size}`);
        if (!(d.num >= MIN_NUM) || !Number.isSafeInteger(d.num)) fail(`num ${d.num}`);
      }
      if (script.statusFiles.length !== args.filter((a) => a[0] === "=").length) fail("status files lost");
      if (script.timestamp !== (args[0]?.[0] === "t")) fail("t flag");
      return true;
    }), { numRuns, seed });
    const patternText = fc.array(fc.constantFrom("*", "a", "b", " ", ":"), { maxLength: 8 }).map((a) => a.join(""));
    const lineText = fc.array(fc.constantFrom("a", "b", " ", ":", "*"), { maxLength: 12 }).map((a) => a.join(""));
    fc.assert(fc.property(patternText, lineText, (pattern, line) => {
      const got = patternMatches(bytesOf(pattern), bytesOf(line), line.length);
      if (got !== referenceMatch(pattern, line)) fail(`${JSON.stringify(pattern)} on ${JSON.stringify(line)}: ${got}`);
      return true;
    }), { numRuns, seed });
  },
};

const fd3Byte = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constant(0), fc.constant(0));

export const fd3Request: FuzzTarget = {
  name: "fd3-request",
  module: "mod/auth/request.ts",
  ciRuns: 3000,
  check(numRuns, seed) {
    fc.assert(fc.property(fc.array(fd3Byte, { maxLength: 600 }).map((a) => Uint8Array.from(a)), (raw) => {
      let request;
      try {
        request = parseRequest(raw);
      } catch (e) {
        if (!(e instanceof MalformedRequest)) throw e;
        if (e.exitCode !== 2) fail(`exit ${e.exitCode}`);
        // djb's checkpassword refuses exactly: no NUL, or nothing after the login's NUL, or an unterminated password.
        const first = raw.indexOf(0);
        if (first >= 0 && first + 1 < raw.length && raw.indexOf(0, first + 1) >= 0) fail("well-formed data refused");
        return true;
      }
      for (const part of [request.login, request.password, request.timestamp]) if (part.includes(0)) fail("NUL inside a field");
      const rebuilt = `${latin1(request.login)}\0${latin1(request.password)}\0${latin1(request.timestamp)}`;
      if (!latin1(raw).startsWith(rebuilt)) fail("fields do not rebuild the data");
      return true;
    }), { numRuns, seed });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ maxLength: 100 }), (login, password, timestamp) => {
      const strip = (b: Uint8Array) => b.filter((x) => x !== 0);
      const [l, p, t] = [strip(login), strip(password), strip(timestamp)];
      const request = parseRequest(Uint8Array.from([...l, 0, ...p, 0, ...t, 0]));
      if (latin1(request.login) !== latin1(l) || latin1(request.password) !== latin1(p) || latin1(request.timestamp) !== latin1(t)) fail("round trip");
      return true;
    }), { numRuns: Math.ceil(numRuns / 3), seed });
  },
};
