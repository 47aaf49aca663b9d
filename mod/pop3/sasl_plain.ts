/**
 * SASL PLAIN for POP3 (RFC 5034 with RFC 4616): the client response is base64 of
 * `authzid\0authcid\0passwd`. Base64 is checked strictly (RFC 4648 alphabet,
 * padding, no stray characters), since a lenient decoder would accept garbage.
 */

export type PlainResult =
  | { kind: "ok"; user: Uint8Array; password: Uint8Array }
  | { kind: "bad-base64" }
  | { kind: "bad-message"; why: string };

import { sameUserName } from "../auth/username.ts";

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes a client response line ("=" is the empty initial response, RFC 5034 section 4). */
export function decodePlain(line: Uint8Array): PlainResult {
  const text = Buffer.from(line).toString("latin1");
  if (text === "=" ) return { kind: "bad-message", why: "empty response" };
  if (text.length === 0 || !B64.test(text)) return { kind: "bad-base64" };
  const bytes = new Uint8Array(Buffer.from(text, "base64"));
  const first = bytes.indexOf(0);
  const second = first < 0 ? -1 : bytes.indexOf(0, first + 1);
  if (first < 0 || second < 0 || bytes.indexOf(0, second + 1) >= 0) {
    bytes.fill(0);
    return { kind: "bad-message", why: "not authzid NUL authcid NUL password" };
  }
  const authzid = bytes.subarray(0, first);
  const user = bytes.slice(first + 1, second);
  const password = bytes.slice(second + 1);
  const proxy = authzid.length > 0 && !sameUserName(authzid, user);
  bytes.fill(0);
  if (proxy) {
    password.fill(0);
    return { kind: "bad-message", why: "acting as another user (authzid) is not supported" };
  }
  if (user.length === 0 || password.length === 0) return { kind: "bad-message", why: "empty user name or password" };
  return { kind: "ok", user, password };
}
