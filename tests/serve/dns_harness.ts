/**
 * A DNS server of the test's own (dns_server.py: answers, delays or ignores each question)
 * and a way to run a program that uses it as its only resolver: a private mount namespace
 * whose /etc/resolv.conf, /etc/hosts and /etc/nsswitch.conf are the test's files (bind-mounted),
 * so the machine's own files are never touched and nothing else sees the test's resolver.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { requireTool } from "../helpers.ts";

const SERVER = join(import.meta.dir, "dns_server.py");

export interface DnsServer {
  /** The loopback address it answers on (port 53, UDP and TCP). */
  address: string;
  /** Every question so far, as "TYPE NAME" ("PTR 3.0.0.127.in-addr.arpa"; "... tcp" over TCP). */
  questions(): string[];
  stop(): Promise<void>;
}

/**
 * Starts dns_server.py with RULES ("NAME=ACTION", see its header) on port 53 of a loopback
 * address no one else uses (a random 127.53.x.y: port 53 is not in any test's range, and the
 * address keeps concurrent runs apart).
 */
export async function startDns(rules: string[]): Promise<DnsServer> {
  for (let attempt = 0; attempt < 8; attempt++) {
    const address = `127.53.${1 + Math.floor(Math.random() * 254)}.${1 + Math.floor(Math.random() * 254)}`;
    const proc = Bun.spawn([requireTool("python3"), SERVER, address, ...rules], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
    const lines: string[] = [];
    let ready!: (ok: boolean) => void;
    const started = new Promise<boolean>((resolve) => (ready = resolve));
    void (async () => {
      let text = "";
      for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) {
        text += Buffer.from(chunk).toString("latin1");
        const cut = text.lastIndexOf("\n");
        if (cut < 0) continue;
        for (const line of text.slice(0, cut).split("\n")) {
          if (line === "ready") ready(true);
          else if (line.startsWith("q ")) lines.push(line.slice(2));
        }
        text = text.slice(cut + 1);
      }
      ready(false);
    })();
    const timer = setTimeout(() => ready(false), 10_000);
    const ok = await started;
    clearTimeout(timer);
    if (!ok) {
      proc.kill("SIGKILL");
      await proc.exited;
      continue;
    }
    return {
      address,
      questions: () => [...lines],
      async stop() {
        proc.kill("SIGKILL");
        await proc.exited;
      },
    };
  }
  throw new Error("dns_server.py did not start on any of 8 loopback addresses");
}

/**
 * Writes resolv.conf (the one name server `dns`), hosts (localhost only, so every other address
 * is asked of `dns`) and nsswitch.conf (files, then DNS) into `dir`, and returns a wrapper:
 * `argv` run with them as the system's files.
 */
export function withResolver(dir: string, dns: DnsServer): (argv: string[]) => string[] {
  writeFileSync(join(dir, "resolv.conf"), `nameserver ${dns.address}\n`);
  writeFileSync(join(dir, "hosts"), "127.0.0.1 localhost\n::1 localhost\n");
  writeFileSync(join(dir, "nsswitch.conf"), "hosts: files dns\n");
  const mounts = ["resolv.conf", "hosts", "nsswitch.conf"].map((f) => `mount --bind ${join(dir, f)} /etc/${f}`).join(" && ");
  return (argv) => [requireTool("unshare"), "-m", "sh", "-c", `${mounts} && exec "$0" "$@"`, ...argv];
}
