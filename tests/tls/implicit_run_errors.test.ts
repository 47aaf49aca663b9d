/** serve --tls (sslserver's job) words a program that cannot run as tcpserver does. */
import { expect, test } from "bun:test";
import tls from "node:tls";
import { join } from "node:path";
import { unlinkSync, writeFileSync } from "node:fs";
import { applet, startPortServer, tempDir } from "../helpers.ts";
import { makeCertificate } from "./harness.ts";

/** Completes a TLS handshake and waits until the server closes the connection. */
function handshakeAndWait(port: number): Promise<void> {
  return new Promise((resolve) => {
    const sock = tls.connect({ port, host: "127.0.0.1", rejectUnauthorized: false });
    const timer = setTimeout(() => sock.destroy(), 5000);
    sock.on("error", () => {});
    sock.on("close", () => { clearTimeout(timer); resolve(); });
  });
}

test("serve --tls: a program gone since the start and one without execute permission get djb's words, not errno names", async () => {
  const cert = makeCertificate();
  const dir = tempDir("tls-run");
  const noexec = join(dir, "noexec");
  writeFileSync(noexec, "#!/bin/sh\necho hi\n", { mode: 0o644 });
  const gone = join(dir, "gone");
  writeFileSync(gone, "#!/bin/sh\necho hi\n", { mode: 0o755 });
  for (const [program, why] of [[gone, "file does not exist"], [noexec, "access denied"]]) {
    const s = await startPortServer([applet("tcpserver"), "-1", "-v", "-HR", "-l", "h", "--tls", "127.0.0.1", "0", program], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", CERTFILE: cert.cert, KEYFILE: cert.key },
    });
    // (A program missing at the start is refused before serve listens: tests/serve/startup_check.test.ts.)
    if (program === gone) unlinkSync(gone);
    try {
      await handshakeAndWait(s.port);
      const deadline = Date.now() + 5000;
      while (!s.log().includes("unable to run") && Date.now() < deadline) await Bun.sleep(20);
      expect(s.log()).toContain(`tcpserver: warning: dropping connection, unable to run ${program}: ${why}\n`);
    } finally {
      await s.stop();
    }
  }
});
