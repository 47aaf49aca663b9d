/**
 * The server side of one SCRAM exchange (RFC 5802 section 5, over POP3 AUTH as RFC 5034
 * frames it), sans-I/O: feed each decoded client response to step(), send what it says.
 *
 *   C: AUTH SCRAM-SHA-256 [client-first]    S: + server-first
 *   C: client-final                         S: + v=ServerSignature   (proof checked)
 *   C: (empty)                              -> login: the checkpassword chain decides
 *
 * A user without keys (unknown, a system account) gets decoy keys and fails at the proof,
 * like a wrong password and after the same work. Channel binding (the -PLUS names) is
 * checked here, since only the host holding the TLS connection can compute it.
 */
import { randomBytes } from "../sys/random.ts";
import {
  authMessage, CHANNEL_BINDING_TYPES, formatServerFirst, parseClientFinal, parseClientFirst, proofMatches,
  serverSignature, type ChannelBindingType, type ClientFirst, type ScramHash,
} from "./scram.ts";
import { formatScramForm, nonceTag } from "./scram_form.ts";
import { decoyKeys, type ScramKeys } from "./scram_keys.ts";
import { CHECKPASSWORD_MAX_DATA } from "../auth/request.ts";

/** What an exchange needs from its host. */
export interface ScramServices {
  /** The stored keys of `user` for `hash`; undefined when there are none. May throw (database unreadable). */
  keys(user: string, hash: ScramHash): ScramKeys | undefined;
  /** The channel-binding data of this TLS connection; undefined on plain text or when unavailable. */
  channelBinding?(type: ChannelBindingType): Uint8Array | undefined;
  /** The fd-3 timestamp of this connection (tags the server nonce, see scram_form.ts). */
  timestamp: string;
  /** The -PLUS mechanisms are offered now (TLS is active and binding data is available). */
  plusOffered: boolean;
  /**
   * popup's checks before a login (per-address limit, allowed users, name rewriting), run at
   * the client's first message: a refused user still gets a salt and fails at the proof, so a
   * blocked client never gets a server signature and cannot tell a refusal from a wrong password.
   */
  admit?(user: string): { user: string } | { refused: string; temporary?: boolean };
}

export type SaslStep =
  /** Send `+ base64(data)` and wait for the next response. */
  | { kind: "challenge"; data: Uint8Array }
  /** The exchange proved the password: hand `password` (the fd-3 form) to checkpassword. */
  | {
    kind: "done"; user: Uint8Array; password: Uint8Array;
    /** A bearer token for checkpassword, passed beside fd 3 (OAUTHBEARER, XOAUTH2). */
    bearer?: string;
    /** Sent as "+ base64" before the -ERR when the login fails (RFC 7628 section 3.2.2). */
    failureChallenge?: Uint8Array;
  }
  /** The login failed (treated as a wrong password: delay, log, failure count). */
  | { kind: "refused"; user: Uint8Array; why: string }
  /** The keys could not be read (database unreadable): a temporary failure. */
  | { kind: "temporary"; user: Uint8Array; why: string }
  /** The client broke the protocol before naming a user. */
  | { kind: "malformed"; why: string };

const SERVER_NONCE_OCTETS = 18;
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

export class ScramExchange {
  readonly mechanism: string;
  readonly #hash: ScramHash;
  readonly #plus: boolean;
  readonly #services: ScramServices;
  #stage: "first" | "final" | "ack" | "over" = "first";
  #client: ClientFirst | undefined;
  #serverFirst = "";
  #nonce = "";
  #keys: ScramKeys | undefined;
  #cbData: Uint8Array | undefined;
  #form: Uint8Array | undefined;
  /** Why the policy refused the user (the exchange still runs to the proof). */
  #refusal: string | undefined;

  constructor(mechanism: string, hash: ScramHash, plus: boolean, services: ScramServices) {
    this.mechanism = mechanism;
    this.#hash = hash;
    this.#plus = plus;
    this.#services = services;
  }

  step(response: Uint8Array): SaslStep {
    const stage = this.#stage;
    this.#stage = "over";
    if (stage === "first" || stage === "final") {
      // RFC 5802's messages are UTF-8: a lossy decoding would name a user (and hash an
      // AuthMessage) other than the octets the client sent.
      let text: string;
      try {
        text = strictUtf8.decode(response);
      } catch {
        return stage === "first" ? { kind: "malformed", why: "not UTF-8" } : { kind: "refused", user: this.#user(), why: "not UTF-8" };
      }
      return stage === "first" ? this.#first(text) : this.#final(text);
    }
    if (stage === "ack") {
      const user = this.#user();
      if (response.length !== 0) return { kind: "refused", user, why: "unexpected data after the server signature" };
      const password = this.#form!;
      this.#form = undefined;
      return { kind: "done", user, password };
    }
    return { kind: "malformed", why: "exchange is over" };
  }

  #user(): Uint8Array {
    return new Uint8Array(Buffer.from(this.#client?.user ?? "", "utf8"));
  }

  #first(message: string): SaslStep {
    const parsed = parseClientFirst(message);
    if (!parsed.ok) return { kind: "malformed", why: parsed.why };
    const client = parsed.value;
    this.#client = client;
    const user = this.#user();
    if (this.#plus) {
      if (client.cbindFlag !== "p") return { kind: "refused", user, why: "-PLUS mechanism without channel binding" };
      if (!CHANNEL_BINDING_TYPES.includes(client.cbName as ChannelBindingType)) return { kind: "refused", user, why: `channel binding type ${client.cbName} not supported` };
      this.#cbData = this.#services.channelBinding?.(client.cbName as ChannelBindingType);
      if (this.#cbData === undefined) return { kind: "refused", user, why: `no ${client.cbName} data on this connection` };
    } else if (client.cbindFlag === "p") {
      return { kind: "refused", user, why: "channel binding asked for with a mechanism without -PLUS" };
    } else if (client.cbindFlag === "y" && this.#services.plusOffered) {
      // RFC 5802 section 6: the client thinks we do not bind, but we offered -PLUS: a downgrade.
      return { kind: "refused", user, why: "channel binding downgrade (y flag while -PLUS is offered)" };
    }
    // A user the policy refuses (not in auth-file, in nonauth-file, the address over its limit)
    // goes on like any other and fails at the proof, without a server signature: stopping here
    // would tell a client which names the lists admit.
    const verdict = this.#services.admit?.(client.user) ?? { user: client.user };
    if ("refused" in verdict && verdict.temporary) return { kind: "temporary", user, why: verdict.refused };
    const name = "refused" in verdict ? client.user : verdict.user;
    if ("refused" in verdict) this.#refusal = verdict.refused;
    try {
      this.#keys = this.#services.keys(name, this.#hash) ?? decoyKeys(this.#hash, name);
    } catch (e) {
      return { kind: "temporary", user, why: (e as Error).message };
    }
    this.#nonce = client.clientNonce + randomBytes(SERVER_NONCE_OCTETS).toString("base64") + nonceTag(this.#services.timestamp);
    this.#serverFirst = formatServerFirst({ nonce: this.#nonce, salt: this.#keys.salt, iterations: this.#keys.iterations });
    this.#stage = "final";
    return { kind: "challenge", data: new Uint8Array(Buffer.from(this.#serverFirst, "utf8")) };
  }

  #final(message: string): SaslStep {
    const client = this.#client!;
    const keys = this.#keys!;
    const user = this.#user();
    const parsed = parseClientFinal(message, this.#hash);
    if (!parsed.ok) return { kind: "refused", user, why: parsed.why };
    const final = parsed.value;
    const auth = authMessage(client.bare, this.#serverFirst, final.withoutProof);
    // The proof is checked before anything else can fail, so every refusal costs the same.
    const proven = proofMatches(this.#hash, keys.storedKey, auth, final.proof);
    if (final.nonce !== this.#nonce) return { kind: "refused", user, why: "nonce mismatch" };
    const expected = Buffer.concat([Buffer.from(client.gs2Header, "utf8"), this.#cbData ?? new Uint8Array(0)]);
    if (Buffer.compare(expected, final.channelBinding) !== 0) return { kind: "refused", user, why: "channel binding mismatch" };
    if (this.#refusal !== undefined) return { kind: "refused", user, why: this.#refusal };
    if (!proven) return { kind: "refused", user, why: "wrong password or unknown user" };
    const form = formatScramForm(this.#hash, client.bare, this.#serverFirst, message);
    // checkpassword takes at most 512 octets (user NUL form NUL timestamp NUL): refuse now rather
    // than send a server signature for a login the chain must then refuse.
    if (user.length + form.length + Buffer.byteLength(this.#services.timestamp, "latin1") + 3 > CHECKPASSWORD_MAX_DATA) {
      return { kind: "refused", user, why: "exchange longer than checkpassword's 512 octets" };
    }
    this.#form = form;
    this.#stage = "ack";
    const verifier = `v=${serverSignature(this.#hash, keys.serverKey, auth).toString("base64")}`;
    return { kind: "challenge", data: new Uint8Array(Buffer.from(verifier, "utf8")) };
  }
}
