/**
 * Reads a PROXY header from a freshly accepted (paused) socket, taking exactly the
 * header's bytes so that everything after it stays in the socket for the program.
 *
 * The header is first looked at with one recv(MSG_PEEK) (a proxy sends it in one write,
 * often with the client's first commands behind it), then taken with one read of its exact
 * length: two system calls whatever the header's version and length.
 */
import { PROXY_HEADER_TIMEOUT_MS, PROXY_V2_MAX, parseProxyHeader, type ProxiedAddresses } from "./proxy_protocol.ts";
import { readSync } from "node:fs";
import { peekSocket } from "../sys/poll.ts";

/** How often to look again while the peer has not sent the header yet. */
const PROXY_POLL_MS = 2;

export type ProxyReadResult = { ok: true; addresses: ProxiedAddresses | null } | { ok: false; reason: string };

/**
 * How much of `bytes` is the header, walking it as the parser asks for octets (so no octet
 * beyond the header is ever counted), from `have` octets already known to be the header's.
 */
function headerIn(bytes: Uint8Array, have: number): { parsed: ReturnType<typeof parseProxyHeader>; length: number } {
  for (;;) {
    const parsed = parseProxyHeader(bytes.subarray(0, have));
    if (parsed.kind !== "need" || have + parsed.bytes > bytes.length) return { parsed, length: have };
    have += parsed.bytes;
  }
}

/**
 * `isOpen` tells whether the socket behind `fd` is still ours: a peer that closes before
 * its header ends may have its descriptor closed by the runtime while we poll, and the
 * number may then belong to another connection, which must never be read here.
 */
export function readProxyHeader(fd: number, timeoutMs = PROXY_HEADER_TIMEOUT_MS, isOpen: () => boolean = () => true): Promise<ProxyReadResult> {
  const buf = new Uint8Array(PROXY_V2_MAX);
  /** Octets of the header taken from the socket so far (into the start of buf). */
  let have = 0;
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve) => {
    const closed: ProxyReadResult = { ok: false, reason: "connection closed before the PROXY header ended" };
    /** Takes the octets have..upTo of the header from the socket; false when it resolved. */
    const take = (upTo: number): boolean => {
      while (have < upTo) {
        let got: number;
        try {
          got = readSync(fd, buf, have, upTo - have, null);
        } catch (err) {
          const code = (err as { code?: string }).code;
          resolve(code === "EBADF" ? closed : { ok: false, reason: `read failed: ${code ?? String(err)}` });
          return false;
        }
        if (got === 0) {
          resolve(closed);
          return false;
        }
        have += got;
      }
      return true;
    };
    const step = () => {
      if (!isOpen()) return resolve(closed);
      let peeked: number;
      try {
        peeked = peekSocket(fd, buf.subarray(have));
      } catch (err) {
        const code = (err as { code?: string }).code;
        return resolve(code === "EBADF" ? closed : { ok: false, reason: `read failed: ${code ?? String(err)}` });
      }
      if (peeked < 0) {
        // Nothing sent yet.
        if (Date.now() >= deadline) return resolve({ ok: false, reason: "timed out waiting for the PROXY header" });
        setTimeout(step, PROXY_POLL_MS);
        return;
      }
      if (peeked === 0) return resolve(closed);
      const { parsed, length } = headerIn(buf.subarray(0, have + peeked), have);
      if (parsed.kind === "invalid") return resolve({ ok: false, reason: parsed.reason });
      if (parsed.kind === "done") return take(length) ? resolve({ ok: true, addresses: parsed.addresses }) : undefined;
      // An incomplete header: what came of it is taken (the parser said those octets are the
      // header's), so that the next look shows what follows, or the peer's close.
      if (!take(Math.min(have + peeked, length + parsed.bytes))) return;
      if (Date.now() >= deadline) return resolve({ ok: false, reason: "timed out waiting for the PROXY header" });
      setTimeout(step, PROXY_POLL_MS);
    };
    step();
  });
}
