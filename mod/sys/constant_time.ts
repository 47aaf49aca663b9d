/**
 * Constant-time comparison of secrets (APOP digests, password hashes) with Bun's native
 * crypto.timingSafeEqual on the Web Crypto global, which needs no node:crypto load (see
 * builtins.ts: that import alone costs milliseconds at every start).
 */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return (crypto as unknown as { timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean }).timingSafeEqual(a, b);
}
