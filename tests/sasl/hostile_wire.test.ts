/**
 * A hostile client on the wire, against the same user database in every host: the classic
 * chain with popup's one-process login, with popup, checkpassword and pop3d as separate
 * processes (fd 3), and serve --inline. Each scenario is sent pipelined, then QUIT; the
 * answers must be byte-identical across the hosts (the timestamp masked), and each failed
 * login must leave one escaped log line with mech= and never the password or the token.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { exchange as exchangeLines } from "./wire.ts";
import { makeBox, startService, PASSWORD, USER, type Service } from "../tls/harness.ts";
import { AUDIENCE, ISSUER, makeSigner, writeJwks } from "./oauth_fixtures.ts";

const b64 = (s: string) => Buffer.from(s, "latin1").toString("base64");
const TOKEN = "hostile-opaque-token.abc";
const JSON_CHALLENGE = `+ ${b64('{"status":"invalid_token"}')}\r\n`;
const INVALID_REQUEST = `+ ${b64('{"status":"invalid_request"}')}\r\n`;
const XOAUTH2_400 = `+ ${b64('{"status":"400","schemes":"bearer"}')}\r\n`;

const services: Record<string, Service> = {};

beforeAll(async () => {
  const box = makeBox();
  const signer = await makeSigner("ES256", "k1");
  const oauth = { POPPIN_OAUTH_JWKS: writeJwks(box.root, [signer]), POPPIN_OAUTH_ISSUER: ISSUER, POPPIN_OAUTH_AUDIENCE: AUDIENCE };
  services.oneProcess = await startService(box, { env: oauth });
  services.separate = await startService(box, { env: { ...oauth, POPPIN_ONE_PROCESS: "0" } });
  services.inline = await startService(box, { serveArgs: ["--inline"], env: oauth });
});

afterAll(async () => {
  for (const s of Object.values(services)) await s.stop();
});

/** Sends `lines` at once, then QUIT; everything the server said until it closed, APOP timestamps masked. */
const exchange = (port: number, lines: string[]) => exchangeLines(port, lines, { maskTimestamps: true });

async function everywhere(lines: string[]): Promise<string> {
  const answers: Record<string, string> = {};
  for (const [name, s] of Object.entries(services)) answers[name] = await exchange(s.port, lines);
  expect(answers.separate).toBe(answers.oneProcess);
  expect(answers.inline).toBe(answers.oneProcess);
  return answers.oneProcess;
}

describe("hostile AUTH exchanges, byte-identical in every host", () => {
  test("a NUL in an OAUTHBEARER or XOAUTH2 user name is refused: it must not turn into a password login (a=demo NUL password)", async () => {
    const bearer = await everywhere([`AUTH OAUTHBEARER ${b64(`n,a=${USER}\0${PASSWORD},\x01auth=Bearer ${TOKEN}\x01\x01`)}`, "AQ==", "STAT"]);
    expect(bearer).toBe(`+OK \r\n${INVALID_REQUEST}-ERR [AUTH] invalid SASL response: NUL in the user name\r\n-ERR authorization first\r\n+OK \r\n`);
    const xoauth2 = await everywhere([`AUTH XOAUTH2 ${b64(`user=${USER}\0${PASSWORD}\x01auth=Bearer ${TOKEN}\x01\x01`)}`, "AQ==", "STAT"]);
    expect(xoauth2).toBe(bearer.replace(INVALID_REQUEST, XOAUTH2_400));
  });

  test("a malformed OAUTHBEARER or XOAUTH2 message fails as RFC 7628 asks (as Dovecot does): the error JSON with invalid_request, the client's ^A, then -ERR", async () => {
    const answer = await everywhere([
      `AUTH OAUTHBEARER ${b64(`n,,\x01auth=Bearer ${TOKEN}\x01\x01`)}`, "AQ==",
      "AUTH OAUTHBEARER", b64(`n,a=${USER},\x01auth=Basic eA==\x01\x01`), "",
      `AUTH XOAUTH2 ${b64(`auth=Bearer ${TOKEN}\x01\x01`)}`, "*",
    ]);
    expect(answer).toBe([
      "+OK ",
      INVALID_REQUEST + "-ERR [AUTH] invalid SASL response: no user name (a=USER)",
      `+ \r\n${INVALID_REQUEST}-ERR [AUTH] invalid SASL response: auth is not Bearer TOKEN`,
      XOAUTH2_400 + "-ERR [AUTH] authentication cancelled",
      "+OK ",
    ].join("\r\n") + "\r\n");
  });

  test("RFC 5034 framing: cancel at each step, empty (= only initially) and invalid responses, no or unknown mechanism, AUTH after USER and after a failure", async () => {
    const answer = await everywhere([
      "AUTH",
      "AUTH X-UNKNOWN",
      "AUTH PLAIN", "*",
      "AUTH SCRAM-SHA-256", "*",
      "AUTH OAUTHBEARER", "*",
      "AUTH PLAIN =",
      "AUTH PLAIN AGRlbW8A d3Jvbmc=", // whitespace inside
      "AUTH PLAIN AGRlbW8Ad3Jvbmc", // no padding
      "AUTH SCRAM-SHA-256 =",
      "AUTH SCRAM-SHA-256", "=", // "=" is the empty response only as the initial one (RFC 5034; Dovecot: invalid base64)
      "AUTH PLAIN", "=",
    ]);
    // A second session: the three cancels above counted toward the 5 failed logins a connection is allowed.
    const failures = await everywhere([
      `USER ${USER}`,
      `AUTH PLAIN ${b64(`\0${USER}\0wrong`)}`,
      `AUTH OAUTHBEARER ${b64(`n,a=${USER},\x01auth=Bearer ${TOKEN}\x01\x01`)}`, "\x01",
      `AUTH XOAUTH2 ${b64(`user=${USER}\x01auth=Bearer ${TOKEN}\x01\x01`)}`, "*",
    ]);
    expect(answer).toBe([
      "+OK ",
      "+OK ", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-1", "OAUTHBEARER", "XOAUTH2", ".",
      "-ERR [AUTH] unsupported mechanism",
      "+ ", "-ERR [AUTH] authentication cancelled",
      "+ ", "-ERR [AUTH] authentication cancelled",
      "+ ", "-ERR [AUTH] authentication cancelled",
      "-ERR [AUTH] invalid PLAIN response: empty response",
      "-ERR [AUTH] invalid base64 in the response",
      "-ERR [AUTH] invalid base64 in the response",
      "-ERR [AUTH] invalid SASL response: bad gs2 header",
      "+ ", "-ERR [AUTH] invalid base64 in the response",
      "+ ", "-ERR [AUTH] invalid base64 in the response",
      "+OK ",
    ].join("\r\n") + "\r\n");
    expect(failures).toBe([
      "+OK ",
      "+OK ",
      "-ERR [AUTH] authorization failed",
      JSON_CHALLENGE.slice(0, -2), "-ERR [AUTH] authorization failed",
      `+ ${b64('{"status":"401","schemes":"bearer"}')}`, "-ERR [AUTH] authorization failed",
      "+OK ",
    ].join("\r\n") + "\r\n");
  });

  test("each failed login: one escaped log line with mech=, never the password or the token", async () => {
    await everywhere([`AUTH OAUTHBEARER ${b64(`n,a=de\x7f\tmo,\x01auth=Bearer ${TOKEN}\x01\x01`)}`, "\x01", `AUTH PLAIN ${b64(`\0${USER}\0wrong-pass`)}`, `USER ${USER}`, "PASS wrong-pass"]);
    for (const s of Object.values(services)) {
      const log = s.log();
      expect(log).toContain("warning: authorization failed rip=127.0.0.1 user=de%7F%09mo mech=OAUTHBEARER\n");
      expect(log).toContain(`warning: authorization failed rip=127.0.0.1 user=${USER} mech=PLAIN\n`);
      expect(log).toContain(`warning: authorization failed rip=127.0.0.1 user=${USER} mech=USER\n`);
      expect(log).toContain(`warning: authorization failed rip=127.0.0.1 user=${USER} mech=XOAUTH2\n`);
      expect(log).not.toContain(TOKEN);
      expect(log).not.toContain("wrong-pass");
      expect(log).not.toContain(PASSWORD);
    }
  });
});

describe("CAPA in both states", () => {
  test("after the login CAPA announces USER and the SASL mechanisms as before it (RFC 2449 section 5), in every host", async () => {
    const answer = await everywhere(["CAPA", `USER ${USER}`, `PASS ${PASSWORD}`, "CAPA"]);
    const lists = answer.split("+OK capability list follows\r\n").slice(1).map((l) => l.slice(0, l.indexOf(".\r\n")).split("\r\n").filter((x) => x === "USER" || x.startsWith("SASL ")));
    expect(lists).toHaveLength(2);
    expect(lists[0]).toEqual(["USER", "SASL PLAIN SCRAM-SHA-256 SCRAM-SHA-1 OAUTHBEARER XOAUTH2"]);
    expect(lists[1]).toEqual(lists[0]!);
  });
});
