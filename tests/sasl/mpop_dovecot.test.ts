/**
 * The reference: the same mpop configuration (scram-sha-256 and scram-sha-1, in clear and over STLS)
 * against Debian's Dovecot given the very SCRAM keys `poppin users` stored, and against
 * poppin's classic chain, in the same run: both download the mailbox byte-identical, both
 * refuse a wrong password, and mpop's exchange has the same shape with both.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, readFileSync } from "node:fs";
import { runMpop, type MpopRun } from "./mpop_run.ts";
import { join } from "node:path";
import { dovecotAvailable, startDovecot, type DovecotServer } from "../../bench/dovecot_harness.ts";
import { requireTool, tempDir } from "../helpers.ts";
import { PASSWORD, USER, boxCount, canonical, corpus, deliver, emptyBox, makeBox, makeCertificate, startService, type Box, type Certificate, type Service } from "../tls/harness.ts";

let box: Box;
let poppin: Service;
let dovecot: DovecotServer;
let cert: Certificate;

beforeAll(async () => {
  requireTool("mpop");
  if (!dovecotAvailable()) throw new Error("Dovecot is not installed (apt-get install dovecot-pop3d; .ci/run does) or we are not root");
  box = makeBox();
  cert = makeCertificate("127.0.0.1");
  chmodSync(cert.dir, 0o755);
  chmodSync(cert.key, 0o644); // Dovecot's config process reads it as root, then hands it on
  poppin = await startService(box, { env: { POPPIN_ONE_PROCESS: "0", CERTFILE: cert.cert, KEYFILE: cert.key } });
  const text = join(box.root, "users");
  const [, field, uid, gid, home] = readFileSync(text, "utf8").split("\n").find((l) => l.startsWith(`${USER}:`))!.split(":");
  const [hash, sha1, sha256] = field!.split(" ");
  const root = tempDir("dovecot-ref");
  chmodSync(root, 0o755);
  // One passdb entry holds one scheme: the SHA-256 keys under the user's name, the SHA-1 keys under a second name, same home.
  dovecot = await startDovecot({
    root, port: 30000 + Math.floor(Math.random() * 20000), maxSessions: 20, authMechanisms: "plain scram-sha-1 scram-sha-256",
    tls: { cert: cert.cert, key: cert.key },
    users: [
      { login: USER, hash: hash!, password: sha256, uid: Number(uid), gid: Number(gid), home: home! },
      { login: `${USER}1`, hash: hash!, password: sha1, uid: Number(uid), gid: Number(gid), home: home! },
    ],
  });
});

afterAll(async () => {
  await poppin?.stop();
  await dovecot?.stop();
});

function mpop(port: number, auth: string, user: string, password = PASSWORD, starttls = false): Promise<MpopRun> {
  return runMpop({ port, auth, user, password, tls: starttls ? "starttls" : "off", trustFile: cert.cert });
}

/** What mpop sent and got during AUTH, with the base64 payloads blanked: the exchange's shape. */
function shape(transcript: string): string[] {
  const lines = transcript.split("\n").map((l) => l.trim()).filter((l) => /^(<--|-->) /.test(l));
  const start = lines.findIndex((l) => l.includes("AUTH "));
  const end = lines.findIndex((l, i) => i > start && /^<-- (\+OK|-ERR)/.test(l));
  return lines.slice(start, end + 1).map((l) => l.replace(/^(<-- \+|--> AUTH \S+|-->) \S+$/, "$1 B64").replace(/^(<-- [+-](OK|ERR)).*$/, "$1"));
}

describe("the same mpop configuration against Dovecot (reference) and poppin", () => {
  for (const [auth, dovecotUser, starttls] of [["scram-sha-256", USER, false], ["scram-sha-1", `${USER}1`, false], ["scram-sha-256", USER, true]] as const) {
    test(`${auth}${starttls ? " over STLS" : ""}: both download every message byte-identical, with the same exchange`, async () => {
      const shapes: string[][] = [];
      for (const [port, user] of [[dovecot.port, dovecotUser], [poppin.port, USER]] as const) {
        emptyBox(box);
        deliver(box, corpus());
        const r = await mpop(port, auth, user, PASSWORD, starttls);
        expect(r.code).toBe(0);
        expect(r.messages.sort()).toEqual(corpus().map(canonical).sort());
        expect(boxCount(box)).toBe(0);
        shapes.push(shape(r.transcript));
      }
      expect(shapes[0]!.length).toBeGreaterThanOrEqual(4);
      expect(shapes[1]).toEqual(shapes[0]!);
    });

    test(`${auth}${starttls ? " over STLS" : ""}: both refuse a wrong password`, async () => {
      for (const [port, user] of [[dovecot.port, dovecotUser], [poppin.port, USER]] as const) {
        const r = await mpop(port, auth, user, "wrong password", starttls);
        expect(r.code).not.toBe(0);
        expect(r.transcript).toMatch(/<-- -ERR/);
      }
    });
  }
});
