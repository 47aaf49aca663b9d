/** A QMQP client for the tests: builds requests and reads the answer netstring. */
import { connect } from "node:net";

export function ns(bytes: Uint8Array | string): Buffer {
  const b = typeof bytes === "string" ? Buffer.from(bytes, "latin1") : Buffer.from(bytes);
  return Buffer.concat([Buffer.from(`${b.length}:`), b, Buffer.from(",")]);
}

export function qmqpRequest(message: Uint8Array | string, sender: string, recipients: (string | Uint8Array)[]): Buffer {
  return ns(Buffer.concat([ns(message), ns(sender), ...recipients.map(ns)]));
}

/** Parses "LEN:TEXT," into TEXT; throws on anything else. */
export function parseAnswer(bytes: Uint8Array): string {
  const text = Buffer.from(bytes).toString("latin1");
  const m = /^(\d+):([\s\S]*),$/.exec(text);
  if (!m || Number(m[1]) !== Buffer.byteLength(m[2], "latin1")) throw new Error(`not a netstring: ${JSON.stringify(text)}`);
  return m[2];
}

/** Sends a request over TCP and returns the answer text (undefined when the server closed without one). */
export function qmqpSend(port: number, request: Uint8Array, timeoutMs = 10_000): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: "127.0.0.1" });
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => { s.destroy(); reject(new Error("no QMQP answer in time")); }, timeoutMs);
    s.on("connect", () => s.write(request));
    s.on("data", (d: Buffer) => { got = Buffer.concat([got, d]); });
    s.on("close", () => { clearTimeout(timer); resolve(got.length ? parseAnswer(got) : undefined); });
    s.on("error", (e) => { clearTimeout(timer); reject(e); });
  });
}
