/** Helpers for mbox tests: spools written by Debian's procmail and formail, read back by Python's mailbox module, pop3d over pipes. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, requireTool, run } from "../helpers.ts";

/** Delivers `message` (no From_ line) to `spool` with procmail, which writes the From_ line, quotes body "From " lines and dot-locks. */
export function procmailDeliver(spool: string, message: string, work: string, sender = "sender@example.org"): void {
  const procmail = requireTool("procmail");
  const rc = join(work, "procmailrc");
  writeFileSync(rc, `DEFAULT=${spool}\nLOGFILE=/dev/null\nLOCKTIMEOUT=30\n`);
  const r = run([procmail, "-f", sender, "-m", rc], { stdin: Buffer.from(message, "latin1"), env: { PATH: "/usr/bin:/bin", HOME: work } });
  if (r.code !== 0) throw new Error(`procmail failed (${r.code}): ${r.stderr}`);
}

/** Splits the mbox text `mbox` with formail and delivers each message to `spool` through procmail (From_ lines kept). */
export function formailDeliver(spool: string, mbox: string, work: string): void {
  const formail = requireTool("formail");
  requireTool("procmail");
  const rc = join(work, "procmailrc");
  writeFileSync(rc, `DEFAULT=${spool}\nLOGFILE=/dev/null\nLOCKTIMEOUT=30\n`);
  const r = run([formail, "-s", "procmail", "-m", rc], { stdin: Buffer.from(mbox, "latin1"), env: { PATH: "/usr/bin:/bin", HOME: work } });
  if (r.code !== 0) throw new Error(`formail failed (${r.code}): ${r.stderr}`);
}

/** The messages of an mbox as Python's mailbox module reads them (an independent reader): bytes without the From_ line, latin1. */
export function pythonMboxMessages(spool: string): string[] {
  requireTool("python3");
  const script = `
import mailbox, sys, json, base64
box = mailbox.mbox(sys.argv[1], create=False)
print(json.dumps([base64.b64encode(box.get_bytes(k)).decode() for k in box.keys()]))
`;
  const r = run(["python3", "-c", script, spool]);
  if (r.code !== 0) throw new Error(`python mailbox failed: ${r.stderr}`);
  return (JSON.parse(r.out) as string[]).map((m) => Buffer.from(m, "base64").toString("latin1"));
}

/** A pop3d process over pipes, for sessions that must be timed or killed. */
export class PipeSession {
  readonly proc: ReturnType<typeof Bun.spawn>;
  #out = "";
  #err = "";
  readonly #done: Promise<void>;

  constructor(args: string[], env: Record<string, string>, cwd: string) {
    this.proc = Bun.spawn([POPPIN, "pop3d", ...args], { stdin: "pipe", stdout: "pipe", stderr: "pipe", env: { PATH: "/usr/bin:/bin", USER: "joe", HOME: cwd, ...env }, cwd });
    const pump = async (stream: ReadableStream<Uint8Array>, add: (s: string) => void) => {
      for await (const chunk of stream) add(Buffer.from(chunk).toString("latin1"));
    };
    this.#done = Promise.all([
      pump(this.proc.stdout as ReadableStream<Uint8Array>, (s) => { this.#out += s; }),
      pump(this.proc.stderr as ReadableStream<Uint8Array>, (s) => { this.#err += s; }),
    ]).then(() => undefined);
  }

  send(text: string): void {
    const sink = this.proc.stdin as import("bun").FileSink;
    sink.write(text);
    sink.flush();
  }

  get output(): string { return this.#out; }
  get errors(): string { return this.#err; }

  /** Waits until the output contains `text` (bounded). */
  async waitFor(text: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#out.includes(text)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${JSON.stringify(text)}; got ${JSON.stringify(this.#out.slice(-300))} ${this.#err}`);
      await Bun.sleep(5);
    }
  }

  /** Closes stdin and waits for the end (bounded). */
  async finish(timeoutMs = 20_000): Promise<number> {
    (this.proc.stdin as import("bun").FileSink).end();
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), timeoutMs);
    const code = await this.proc.exited;
    clearTimeout(timer);
    await this.#done;
    return code;
  }
}

/** One pop3d session with all commands at once; returns its output. */
export function oneSession(args: string[], commands: string, cwd: string, env: Record<string, string> = {}): { out: string; err: string; code: number } {
  const r = run([POPPIN, "pop3d", ...args], { stdin: commands, cwd, env: { PATH: "/usr/bin:/bin", USER: "joe", HOME: cwd, ...env } });
  return { out: r.out, err: r.stderr, code: r.code };
}

/** The UIDL listing of a session's output ("n uidl" lines between "+OK" and "."). */
export function uidlLines(out: string): string[] {
  const start = out.indexOf("+OK \r\n1 ");
  if (start < 0) return [];
  const end = out.indexOf("\r\n.\r\n", start);
  return out.slice(start + 6, end + 2).split("\r\n").filter((l) => l !== "").map((l) => l.split(" ")[1]!);
}
