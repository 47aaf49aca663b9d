/**
 * A client that pipelines its last commands over TLS and then closes its sending side
 * (close_notify, then FIN: allowed in TLS 1.3, done by scripts and by clients that
 * shut down after QUIT) still gets every answer, in every host: popup after STLS (one
 * process, and separate processes), serve --inline with STLS, serve --tls in front of the
 * classic chain, serve --inline --tls. Before, the classic chain lost the answers after
 * the first (STLS), and serve --tls even the greeting.
 */
import { afterAll, describe, expect, test } from "bun:test";
import net from "node:net";
import tls from "node:tls";
import { POPPIN } from "../helpers.ts";
import { MAIL_GID, MAIL_UID, startServer, virtualSetup, type Running } from "../standalone/harness.ts";
import { makeCertificate } from "./harness.ts";

const setup = virtualSetup(["Subject: one\n\nfirst\n", "Subject: two\n\nsecond\n"]);
const cert = makeCertificate();
const chain = [POPPIN, "popup", "mail.example", POPPIN, "checkpassword", POPPIN, "pop3d", "Maildir"];
const base = { POPPIN_USERDB: setup.userdb, CERTFILE: cert.cert, KEYFILE: cert.key, POPPIN_STOP_SECONDS: "0" };
const ids = ["-u", String(MAIL_UID), "-g", String(MAIL_GID)];
const servers: Running[] = [];
afterAll(async () => {
  for (const s of servers) if (s.proc.exitCode === null) await s.stop();
});

const COMMANDS = "USER joe\r\nPASS secret\r\nSTAT\r\nUIDL 1\r\nQUIT\r\n";

/** Everything the server sent after the TLS handshake, once it closed (or "timeout"). */
function exchange(port: number, stls: boolean, maxVersion: tls.SecureVersion): Promise<string> {
  return new Promise((resolve) => {
    let out = "";
    const timer = setTimeout(() => resolve(`timeout: ${JSON.stringify(out)}`), 10_000);
    const secure = (raw?: net.Socket) => {
      const t = tls.connect({ ...(raw ? { socket: raw } : { port, host: "127.0.0.1" }), rejectUnauthorized: false, maxVersion, allowHalfOpen: true } as unknown as tls.ConnectionOptions, () => {
        t.write(COMMANDS);
        t.end(); // close_notify, then FIN: our sending side only
      });
      t.on("data", (d) => (out += d.toString("latin1")));
      t.on("error", () => { /* the close below tells */ });
      t.on("close", () => {
        clearTimeout(timer);
        resolve(out);
      });
    };
    if (!stls) return secure();
    const raw = net.connect(port, "127.0.0.1");
    let plain = "";
    const onData = (d: Buffer) => {
      plain += d.toString("latin1");
      if (plain === "+OK \r\n" || /^\+OK [^\r]*\r\n$/.test(plain) && !plain.includes("TLS")) {
        raw.write("STLS\r\n");
      } else if (plain.includes("Begin TLS")) {
        raw.removeListener("data", onData);
        secure(raw);
      }
    };
    raw.on("data", onData);
  });
}

const hosts: { name: string; argv: string[]; env?: Record<string, string>; stls: boolean }[] = [
  { name: "popup after STLS (one process)", argv: [POPPIN, "serve", "-R", "-H", "-1", ...ids, "127.0.0.1", "0", ...chain], stls: true },
  { name: "popup after STLS (separate processes)", argv: [POPPIN, "serve", "-R", "-H", "-1", ...ids, "127.0.0.1", "0", ...chain], env: { POPPIN_ONE_PROCESS: "0" }, stls: true },
  { name: "serve --inline, STLS", argv: [POPPIN, "serve", "--inline", "-R", "-H", "-1", ...ids, "127.0.0.1", "0", ...chain], stls: true },
  { name: "serve --tls, classic chain", argv: [POPPIN, "serve", "--tls", "-R", "-H", "-1", ...ids, "127.0.0.1", "0", ...chain], stls: false },
  { name: "serve --inline --tls", argv: [POPPIN, "serve", "--inline", "--tls", "-R", "-H", "-1", ...ids, "127.0.0.1", "0", ...chain], stls: false },
];

describe("TLS half-close after the last command: every answer arrives", () => {
  for (const h of hosts) {
    test(h.name, async () => {
      const s = await startServer(h.argv, { ...base, ...h.env });
      servers.push(s);
      for (const version of ["TLSv1.3", "TLSv1.2"] as const) {
        const out = await exchange(s.port, h.stls, version);
        // implicit TLS: the greeting comes inside TLS too
        const answers = h.stls ? out : out.replace(/^\+OK [^\r]*\r\n/, "");
        expect(`${version}: ${answers}`).toMatch(new RegExp(`^${version}: \\+OK \\r\\n\\+OK \\r\\n\\+OK 2 \\d+\\r\\n\\+OK 1 \\S+\\r\\n\\+OK \\r\\n$`));
      }
      await s.stop();
    }, 40_000);
  }
});
