/** `npm start`'s demo: it builds a working service a newcomer can fetch mail from with curl. */
import { expect, test } from "bun:test";
import { chmodSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { ROOT, POPPIN, requireTool, tempDir } from "../helpers.ts";

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

test("the demo serves its sample mail to curl with the printed credentials", async () => {
  requireTool("curl");
  const port = await freePort();
  const parent = tempDir("demo");
  chmodSync(parent, 0o755); // as root the demo's mail belongs to nobody, who must reach it
  const dir = join(parent, "demo");
  const demo = Bun.spawn([process.execPath, join(ROOT, "scripts", "demo.ts")], {
    env: { ...process.env, PORT: String(port), DEMO_DIR: dir, POPPIN_BIN: POPPIN },
    stdout: "pipe",
    stderr: "pipe",
  });
  try {
    let banner = "";
    const reader = demo.stderr.getReader();
    const deadline = Date.now() + 20_000;
    while (!banner.includes("tcpserver: status: 0/40") && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      banner += new TextDecoder().decode(value);
    }
    expect(banner).toContain(`curl --user demo:demo pop3://127.0.0.1:${port}/`);
    const list = Bun.spawnSync(["curl", "-sS", "--max-time", "20", "--user", "demo:demo", `pop3://127.0.0.1:${port}/`]);
    expect(list.exitCode).toBe(0);
    expect(list.stdout.toString().trim().split("\r\n").length).toBe(3);
    const first = Bun.spawnSync(["curl", "-sS", "--max-time", "20", "--user", "demo:demo", `pop3://127.0.0.1:${port}/1`]);
    expect(first.stdout.toString()).toContain("Subject: Welcome to poppin");
  } finally {
    demo.kill("SIGTERM");
    await demo.exited;
  }
});
