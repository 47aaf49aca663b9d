/**
 * A live POP3 session over loopback as the Q-cards' roadmap does it by hand:
 * greeting, USER, PASS, STAT, LIST, TOP 1 0, QUIT; each step bounded in time.
 */
import type { Socket } from "node:net";
import { nodeNet, nodeTls } from "../sys/builtins.ts";

export interface ProbeResult { ok: boolean; step: string; detail: string; messages?: number }

class Lines {
  #buf = Buffer.alloc(0);
  #closed = false;
  #wake: (() => void) | undefined;
  constructor(readonly socket: Socket) {
    socket.on("data", (d: Buffer) => { this.#buf = Buffer.concat([this.#buf, d]); this.#wake?.(); });
    socket.on("close", () => { this.#closed = true; this.#wake?.(); });
    socket.on("error", () => { this.#closed = true; this.#wake?.(); });
  }
  async read(multi: boolean, timeoutMs: number): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = this.#buf.toString("latin1");
      const first = text.indexOf("\r\n");
      if (first >= 0 && (!multi || !text.startsWith("+OK"))) { this.#buf = this.#buf.subarray(first + 2); return text.slice(0, first); }
      const end = text.indexOf("\r\n.\r\n");
      if (multi && end >= 0) { this.#buf = this.#buf.subarray(end + 5); return text.slice(0, end); }
      if (this.#closed || Date.now() >= deadline) return undefined;
      await new Promise<void>((r) => { this.#wake = r; setTimeout(r, Math.max(1, deadline - Date.now())); });
    }
  }
}

/**
 * The session; `tls`: implicit TLS first (a pop3s service, port 995), the certificate not
 * verified (doctor checks the service, not the certificate's chain of trust).
 */
export async function pop3Probe(host: string, port: number, user: string, password: Uint8Array, timeoutMs = 10_000, tls = false): Promise<ProbeResult> {
  let socket: Socket;
  try {
    socket = await new Promise<Socket>((resolve, reject) => {
      const s = tls ? nodeTls().connect({ host, port, rejectUnauthorized: false }) : nodeNet().connect({ host, port });
      const t = setTimeout(() => { s.destroy(); reject(new Error("timed out")); }, timeoutMs);
      s.once(tls ? "secureConnect" : "connect", () => { clearTimeout(t); resolve(s); });
      s.once("error", (e) => { clearTimeout(t); reject(e); });
    });
  } catch (err) {
    return { ok: false, step: "connect", detail: `cannot connect to ${host}:${port}: ${(err as Error).message}` };
  }
  const lines = new Lines(socket);
  const step = async (name: string, command: Uint8Array | string | undefined, multi = false): Promise<string> => {
    if (command !== undefined) socket.write(Buffer.concat([Buffer.from(command), Buffer.from("\r\n")]));
    const reply = await lines.read(multi, timeoutMs);
    if (reply === undefined) throw Object.assign(new Error(`the server closed the connection (or was silent) at ${name}`), { step: name });
    if (!reply.startsWith("+OK")) throw Object.assign(new Error(`${name} answered ${reply.slice(0, 80)}`), { step: name });
    return reply;
  };
  try {
    await step("greeting", undefined);
    await step("USER", `USER ${user}`);
    await step("PASS", Buffer.concat([Buffer.from("PASS "), password]));
    const stat = await step("STAT", "STAT");
    const messages = Number(/^\+OK (\d+)/.exec(stat)?.[1] ?? 0);
    await step("LIST", "LIST", true);
    if (messages > 0) await step("TOP", "TOP 1 0", true);
    await step("QUIT", "QUIT");
    return { ok: true, step: "QUIT", detail: `USER, PASS, STAT, LIST${messages > 0 ? ", TOP" : ""} and QUIT answered +OK (${messages} ${messages === 1 ? "message" : "messages"})`, messages };
  } catch (err) {
    return { ok: false, step: (err as { step?: string }).step ?? "?", detail: (err as Error).message };
  } finally {
    socket.destroy();
  }
}
