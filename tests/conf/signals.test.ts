/**
 * svc's signals aimed at the service rather than its log: svc -a (SIGALRM), -1, -2 end
 * tcpserver, which under serve --inline would end every session in progress (they run in
 * serve's process). serve with poppin's chain ignores them in both modes and says so; a
 * session open at the time goes on; SIGTERM still stops serve.
 */
import { describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { applet, POPPIN } from "../helpers.ts";
import { freePort, Pop3Client } from "./pop3_client.ts";

for (const mode of ["classic", "inline"] as const) {
  describe(`serve (${mode})`, () => {
    test("SIGALRM, SIGUSR1, SIGUSR2: ignored with a warning; the open session goes on; SIGTERM stops it", async () => {
      const port = await freePort();
      const child = spawn(POPPIN, ["serve", ...(mode === "inline" ? ["--inline"] : []), "-v", "127.0.0.1", String(port),
        applet("qmail-popup"), "mail.example", applet("checkpassword"), applet("qmail-pop3d"), "Maildir"], { stdio: ["ignore", "ignore", "pipe"] });
      let log = "";
      child.stderr!.on("data", (d: Buffer) => { log += d.toString(); });
      const exited = new Promise<{ code: number | null; signal: string | null }>((r) => child.on("exit", (code, signal) => r({ code, signal })));
      try {
        const deadline = Date.now() + 10_000;
        while (!log.includes("status: 0/") && Date.now() < deadline) await Bun.sleep(50);
        const client = await Pop3Client.open(port);
        expect(await client.line()).toStartWith("+OK ");
        for (const signal of ["SIGALRM", "SIGUSR1", "SIGUSR2"] as const) {
          child.kill(signal);
          const until = Date.now() + 5000;
          while (!log.includes(`${signal} ignored`) && Date.now() < until) await Bun.sleep(20);
          expect(log).toContain(`poppin serve: warning: ${signal} ignored: serve has no use for it (svc -a, -1 and -2 are for a log service: svc -a DIR/log rotates its current file)\n`);
        }
        expect(child.exitCode).toBeNull();
        expect(await client.command("CAPA")).toStartWith("+OK");
        expect(await client.multi()).toContain("USER");
        expect(await client.command("QUIT")).toStartWith("+OK");
        client.close();
        const another = await Pop3Client.open(port);
        expect(await another.line()).toStartWith("+OK ");
        another.close();
        child.kill("SIGTERM");
        expect(await exited).toEqual({ code: 0, signal: null });
      } finally {
        child.kill("SIGKILL");
      }
    }, 30_000);
  });
}
