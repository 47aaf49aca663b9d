/** Test keys, a JWKS file and token minting for the OAuth tests (jose, the library checkpassword uses). */
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";

export const ISSUER = "https://issuer.example";
export const AUDIENCE = "pop.example.org";

export interface Signer { alg: "RS256" | "ES256" | "EdDSA"; kid: string; privateKey: CryptoKey; jwk: JWK }

export async function makeSigner(alg: Signer["alg"], kid: string): Promise<Signer> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === "EdDSA" ? { crv: "Ed25519" } : {}) });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  return { alg, kid, privateKey, jwk };
}

export function writeJwks(dir: string, signers: Signer[]): string {
  const path = join(dir, "jwks.json");
  writeFileSync(path, JSON.stringify({ keys: signers.map((s) => s.jwk) }), { mode: 0o644 });
  chmodSync(path, 0o644); // whatever the umask: checkpassword refuses a key set others can write
  return path;
}

export async function mint(signer: Signer, claims: Record<string, unknown> = {}, opts: { kid?: string; exp?: number; nbf?: number; iss?: string; aud?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ email: "demo", ...claims })
    .setProtectedHeader({ alg: signer.alg, kid: opts.kid ?? signer.kid })
    .setIssuer(opts.iss ?? ISSUER)
    .setAudience(opts.aud ?? AUDIENCE)
    .setIssuedAt(now)
    .setNotBefore(opts.nbf ?? now - 5)
    .setExpirationTime(opts.exp ?? now + 600)
    .sign(signer.privateKey);
}
