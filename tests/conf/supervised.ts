/** What the runit and s6 tests share: conf's service directory, and one session logged through it. */
import { expect } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { applet, POPPIN, requireTool, run, until } from "../helpers.ts";
import { freePort, Pop3Client } from "./pop3_client.ts";

/** `poppin conf pop3d` into `service` on a free port, 127.0.0.1 let in, tcp.cdb made; the port. */
export async function makeService(service: string): Promise<number> {
  const port = await freePort();
  expect(run([POPPIN, "conf", "pop3d", "--port", String(port), applet("checkpassword"), "nobody", service, "127.0.0.1"]).stderr).toBe("");
  expect(run(["./add-client", "127.0.0.1"], { cwd: service }).code).toBe(0);
  expect(run([requireTool("make"), "-s"], { cwd: service }).code).toBe(0);
  return port;
}

/** Waits for serve's status line in log/main/current, then greets and QUITs once; log/main. */
export async function oneLoggedSession(service: string, port: number): Promise<string> {
  const main = join(service, "log", "main");
  await until("serve's status line", () => { try { return readFileSync(join(main, "current"), "latin1").includes("tcpserver: status: 0/40"); } catch { return false; } });
  const client = await Pop3Client.open(port);
  expect(await client.line()).toStartWith("+OK");
  expect(await client.command("QUIT")).toStartWith("+OK");
  client.close();
  return main;
}
