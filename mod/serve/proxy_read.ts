/**
 * Reads a PROXY header from a freshly accepted (paused) socket, taking exactly the
 * header's bytes so that everything after it stays in the socket for the program.
 */
import { readSync } from "node:fs";
import { PROXY_HEADER_TIMEOUT_MS, PROXY_V2_MAX, parseProxyHeader, type ProxiedAddresses } from "./proxy_protocol.ts";

/** How often to look again while the peer has not sent the header yet. */
const PROXY_POLL_MS = 2;

export type ProxyReadResult = { ok: true; addresses: ProxiedAddresses | null } | { ok: false; reason: string };

/**
 * `isOpen` tells whether the socket behind `fd` is still ours: a peer that closes before
 * its header ends may have its descriptor closed by the runtime while we poll, and the
 * number may then belong to another connection, which must never be read here.
 */
export function readProxyHeader(fd: number, timeoutMs = PROXY_HEADER_TIMEOUT_MS, isOpen: () => boolean = () => true): Promise<ProxyReadResult> {
  const buf = new Uint8Array(PROXY_V2_MAX);
  let have = 0;
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve) => {
    const step = () => {
      for (;;) {
        const parsed = parseProxyHeader(buf.subarray(0, have));
        if (parsed.kind === "invalid") return resolve({ ok: false, reason: parsed.reason });
        if (parsed.kind === "done") return resolve({ ok: true, addresses: parsed.addresses });
        const closed: ProxyReadResult = { ok: false, reason: "connection closed before the PROXY header ended" };
        if (!isOpen()) return resolve(closed);
        let got: number;
        try {
          got = readSync(fd, buf, have, parsed.bytes, null);
        } catch (err) {
          const code = (err as { code?: string }).code;
          if (code === "EBADF") return resolve(closed);
          if (code !== "EAGAIN" && code !== "EWOULDBLOCK") return resolve({ ok: false, reason: `read failed: ${code ?? String(err)}` });
          if (Date.now() >= deadline) return resolve({ ok: false, reason: "timed out waiting for the PROXY header" });
          setTimeout(step, PROXY_POLL_MS);
          return;
        }
        if (got === 0) return resolve(closed);
        have += got;
      }
    };
    step();
  });
}
