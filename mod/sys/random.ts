/**
 * Random octets from the Web Crypto global (the kernel's CSPRNG through BoringSSL, as
 * node:crypto's randomBytes), which needs no node:crypto load at start (see builtins.ts).
 */
export function randomBytes(n: number): Buffer {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(n)).buffer);
}
