/**
 * One mpop run against a POP3 server, as the SASL tests use it: a throw-away Maildir and
 * configuration (mode 0600, as mpop demands), `--debug` for the transcript, and the
 * messages it delivered in canonical form for byte comparison with the corpus.
 */
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers.ts";
import { canonical, exec } from "../tls/harness.ts";

export interface MpopOptions {
  port: number;
  /** mpop's `auth` value: scram-sha-256, oauthbearer, xoauth2 ... */
  auth: string;
  user: string;
  /** The password, or the bearer token. */
  password: string;
  /** Clear text, STLS, or TLS from the start. */
  tls: "off" | "starttls" | "implicit";
  /** The test certificate mpop must trust. */
  trustFile: string;
}

export interface MpopRun {
  code: number;
  transcript: string;
  messages: string[];
}

export async function runMpop(o: MpopOptions): Promise<MpopRun> {
  const work = tempDir("mpop");
  const md = join(work, "md");
  for (const sub of ["tmp", "new", "cur"]) mkdirSync(join(md, sub), { recursive: true });
  const rc = join(work, "mpoprc");
  writeFileSync(rc, [
    "account default", "host 127.0.0.1", `port ${o.port}`, `tls ${o.tls === "off" ? "off" : "on"}`,
    `tls_starttls ${o.tls === "starttls" ? "on" : "off"}`, `tls_trust_file ${o.trustFile}`,
    `auth ${o.auth}`, `user ${o.user}`, `password ${o.password}`, `delivery maildir ${md}`, "received_header off",
    "keep off", "only_new off", `uidls_file ${join(work, "uidls")}`, "",
  ].join("\n"));
  chmodSync(rc, 0o600);
  const r = await exec(["mpop", "-C", rc, "--debug"], { cwd: work });
  const messages = ["new", "cur"].flatMap((sub) => readdirSync(join(md, sub)).map((f) => canonical(readFileSync(join(md, sub, f)))));
  rmSync(work, { recursive: true, force: true });
  return { code: r.code, transcript: r.out + r.err, messages };
}
