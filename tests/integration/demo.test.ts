/** `npm start`'s demo: it builds a working service a newcomer can fetch mail from with curl. */
import { expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdirSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { ROOT, POPPIN, requireTool, tempDir } from "../helpers.ts";

function listen(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    const server = createServer((c) => c.end("+OK someone else's server\r\n")).listen(0, "127.0.0.1", () => {
      resolve({ server, port: (server.address() as { port: number }).port });
    });
  });
}

async function freePort(): Promise<number> {
  const { server, port } = await listen();
  await new Promise((r) => server.close(r));
  return port;
}

function startDemo(env: Record<string, string>) {
  return Bun.spawn([process.execPath, join(ROOT, "scripts", "demo.ts")], {
    env: { ...process.env, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
}

/** What `stream` gives until every one of `markers` appeared (or `ms` passed). */
async function readUntil(stream: ReadableStream<Uint8Array>, markers: string | string[], ms: number): Promise<string> {
  const wanted = typeof markers === "string" ? [markers] : markers;
  const reader = stream.getReader();
  let text = "";
  const deadline = Date.now() + ms;
  while (!wanted.every((m) => text.includes(m)) && Date.now() < deadline) {
    const next = await Promise.race([reader.read(), Bun.sleep(Math.max(0, deadline - Date.now())).then(() => null)]);
    if (next === null || next.done) break;
    text += new TextDecoder().decode(next.value);
  }
  reader.releaseLock();
  return text;
}

test("from a clone under a 0700 directory, the demo serves its sample mail to curl with the printed credentials", async () => {
  requireTool("curl");
  const port = await freePort();
  // A clone under a private directory (as /root is): the mail uid cannot reach anything in it.
  const clone = join(tempDir("root"), "clone");
  mkdirSync(join(clone, "dist"), { recursive: true });
  chmodSync(join(clone, ".."), 0o700);
  copyFileSync(POPPIN, join(clone, "dist", "poppin"));
  chmodSync(join(clone, "dist", "poppin"), 0o755);
  const demo = startDemo({ PORT: String(port), POPPIN_BIN: join(clone, "dist", "poppin") });
  try {
    // The banner comes once serve printed its port (-1: bound); serve's status line goes to the
    // same stderr right after the port, so the two may come in either order (as tcpserver's).
    const banner = await readUntil(demo.stderr as ReadableStream<Uint8Array>, ["Ctrl-C", "tcpserver: status: 0/40"], 30_000);
    expect(banner).toContain(`listening on 127.0.0.1:${port} (PORT=N npm start for another port)`);
    expect(banner).toContain(`curl --user demo:demo pop3://127.0.0.1:${port}/`);
    expect(banner).toContain("tcpserver: status: 0/40");
    const tree = /and removes (\S+)\./.exec(banner)?.[1];
    expect(tree).toBeDefined();
    expect(existsSync(tree!)).toBe(true);
    const list = Bun.spawnSync(["curl", "-sS", "--max-time", "20", "--user", "demo:demo", `pop3://127.0.0.1:${port}/`]);
    expect(list.stderr.toString()).toBe("");
    expect(list.exitCode).toBe(0);
    expect(list.stdout.toString().trim().split("\r\n").length).toBe(3);
    const first = Bun.spawnSync(["curl", "-sS", "--max-time", "20", "--user", "demo:demo", `pop3://127.0.0.1:${port}/1`]);
    expect(first.stdout.toString()).toContain("Subject: Welcome to poppin");
    demo.kill("SIGTERM");
    expect(await demo.exited).toBe(0);
    expect(existsSync(tree!)).toBe(false);
  } finally {
    demo.kill("SIGTERM");
    await demo.exited;
  }
}, 60_000);

test("on a port someone else holds, the demo says so and prints no curl command", async () => {
  const { server, port } = await listen();
  try {
    const demo = startDemo({ PORT: String(port), POPPIN_BIN: POPPIN });
    const code = await demo.exited;
    const stderr = await new Response(demo.stderr).text();
    expect(code).toBe(111);
    expect(stderr).toContain("tcpserver: fatal: unable to bind: address already used");
    expect(stderr).toContain(`could not start on 127.0.0.1:${port}`);
    expect(stderr).toContain("PORT=2110 npm start");
    expect(stderr).not.toContain("curl");
  } finally {
    server.close();
  }
}, 60_000);
