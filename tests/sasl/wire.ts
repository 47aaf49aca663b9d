/** The one wire exchange of the SASL tests: send lines at once, then QUIT; read until the server closes. */
import { connect } from "node:net";

/** Sends `lines` and QUIT in one write; resolves with everything the server said until it closed (latin1). */
export function exchange(port: number, lines: string[], opts: { maskTimestamps?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, "127.0.0.1");
    let out = "";
    const timer = setTimeout(() => (sock.destroy(), reject(new Error(`no end; got ${JSON.stringify(out)}`))), 8000);
    sock.on("data", (d) => (out += d.toString("latin1")));
    sock.on("error", (e) => (clearTimeout(timer), reject(e)));
    sock.on("close", () => (clearTimeout(timer), resolve(opts.maskTimestamps ? out.replace(/<[^>]*>/g, "<TS>") : out)));
    sock.write([...lines, "QUIT"].map((l) => `${l}\r\n`).join(""));
  });
}
