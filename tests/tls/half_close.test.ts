/**
 * A client that pipelines its last commands over TLS and then closes its sending side
 * (close_notify, then FIN: allowed in TLS 1.3, done by scripts and by clients that
 * shut down after QUIT) still gets every answer, in every host: popup after STLS (one
 * process, and separate processes), serve --inline with STLS, serve --tls in front of the
 * classic chain, serve --inline --tls; with system users (serve as root: under --inline a
 * mail worker serves the session behind serve's TLS relay) and virtual users (-u). Before,
 * the classic chain lost the answers after the first (STLS), and serve --tls even the greeting.
 */
import { afterAll, describe, expect, test } from "bun:test";
import net from "node:net";
import tls from "node:tls";
import { AccountPool, MATRIX, PASSWORD } from "../session/modes.ts";
import { makeCertificate } from "./harness.ts";

const cert = makeCertificate();
const pool = new AccountPool("tls-half-close");
afterAll(() => pool.close());

/** Everything the server sent after the TLS handshake, once it closed (or "timeout"). */
function exchange(port: number, login: string, stls: boolean, maxVersion: tls.SecureVersion): Promise<string> {
  return new Promise((resolve) => {
    let out = "";
    const timer = setTimeout(() => resolve(`timeout: ${JSON.stringify(out)}`), 10_000);
    const secure = (raw?: net.Socket) => {
      const t = tls.connect({ ...(raw ? { socket: raw } : { port, host: "127.0.0.1" }), rejectUnauthorized: false, maxVersion, allowHalfOpen: true } as unknown as tls.ConnectionOptions, () => {
        t.write(`USER ${login}\r\nPASS ${PASSWORD}\r\nSTAT\r\nUIDL 1\r\nQUIT\r\n`);
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
      if (/^\+OK [^\r]*\r\n$/.test(plain) && !plain.includes("TLS")) {
        raw.write("STLS\r\n");
      } else if (plain.includes("Begin TLS")) {
        raw.removeListener("data", onData);
        secure(raw);
      }
    };
    raw.on("data", onData);
  });
}

describe("TLS half-close after the last command: every answer arrives", () => {
  for (const combo of MATRIX) {
    for (const stls of [true, false]) {
      test(`${combo.name}, ${stls ? "STLS" : "serve --tls"}`, async () => {
        const s = await pool.start(combo, { serveFlags: stls ? [] : ["--tls"], env: { CERTFILE: cert.cert, KEYFILE: cert.key } });
        for (const version of ["TLSv1.3", "TLSv1.2"] as const) {
          const acct = pool.account(combo.kind, ["Subject: one\n\nfirst\n", "Subject: two\n\nsecond\n"]);
          const out = await exchange(s.port, acct.login, stls, version);
          // implicit TLS: the greeting comes inside TLS too
          const answers = stls ? out : out.replace(/^\+OK [^\r]*\r\n/, "");
          expect(`${version}: ${answers}`).toMatch(new RegExp(`^${version}: \\+OK \\r\\n\\+OK \\r\\n\\+OK 2 \\d+\\r\\n\\+OK 1 \\S+\\r\\n\\+OK \\r\\n$`));
        }
      }, 40_000);
    }
  }
});
