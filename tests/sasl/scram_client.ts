/** A SCRAM client for tests (RFC 5802 section 3), written from the RFC independently of the server's code paths. */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";

export type Hash = "sha1" | "sha256";

export class ScramClient {
  readonly nonce: string;
  readonly gs2: string;
  readonly bare: string;
  serverFirst = "";
  #authMessage = "";
  #serverKey: Buffer = Buffer.alloc(0);

  constructor(readonly hash: Hash, readonly user: string, readonly password: string, opts: { nonce?: string; gs2?: string; cbData?: Uint8Array } = {}) {
    this.nonce = opts.nonce ?? randomBytes(18).toString("base64");
    this.gs2 = opts.gs2 ?? "n,,";
    this.bare = `n=${user.replaceAll("=", "=3D").replaceAll(",", "=2C")},r=${this.nonce}`;
    this.cbData = opts.cbData;
  }
  cbData: Uint8Array | undefined;

  first(): string {
    return this.gs2 + this.bare;
  }

  /** The client-final message for `serverFirst` (optionally with another nonce or channel binding). */
  final(serverFirst: string, over: { nonce?: string; cbind?: Buffer } = {}): string {
    this.serverFirst = serverFirst;
    const fields = Object.fromEntries(serverFirst.split(",").map((f) => [f[0], f.slice(2)]));
    const salted = pbkdf2Sync(this.password, Buffer.from(fields.s, "base64"), Number(fields.i), this.hash === "sha1" ? 20 : 32, this.hash);
    const clientKey = createHmac(this.hash, salted).update("Client Key").digest();
    const storedKey = createHash(this.hash).update(clientKey).digest();
    this.#serverKey = createHmac(this.hash, salted).update("Server Key").digest();
    const cbind = over.cbind ?? Buffer.concat([Buffer.from(this.gs2), this.cbData ?? Buffer.alloc(0)]);
    const withoutProof = `c=${cbind.toString("base64")},r=${over.nonce ?? fields.r}`;
    this.#authMessage = `${this.bare},${serverFirst},${withoutProof}`;
    const signature = createHmac(this.hash, storedKey).update(this.#authMessage).digest();
    const proof = Buffer.alloc(clientKey.length);
    for (let i = 0; i < proof.length; i++) proof[i] = clientKey[i] ^ signature[i];
    return `${withoutProof},p=${proof.toString("base64")}`;
  }

  /** The v= the server must send. */
  expectedVerifier(): string {
    return `v=${createHmac(this.hash, this.#serverKey).update(this.#authMessage).digest("base64")}`;
  }
}

export const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");
export const unb64 = (text: string) => Buffer.from(text, "base64").toString("utf8");
