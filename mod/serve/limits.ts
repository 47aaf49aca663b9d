/**
 * Connection accounting: tcpserver's -c (children at once, counted from accept to the
 * child's end) and poppin's --per-ip (connections at once from one client address, as
 * tcpserver patches and Dovecot's mail_max_userip_connections offer). An IPv6 client is
 * counted per /64 (clientKey): it may take a new address of its /64 for every connection.
 */
import { clientKey } from "../rules/ip6.ts";

export class ConnectionLimits {
  private count = 0;
  private readonly perAddress = new Map<string, number>();

  constructor(readonly limit: number, readonly perIp: number) {}

  get children(): number {
    return this.count;
  }

  get full(): boolean {
    return this.count >= this.limit;
  }

  /** One more connection in progress (at accept). */
  open(): void {
    this.count++;
  }

  /** A connection is done (its child ended, or it was dropped). */
  close(): void {
    if (this.count > 0) this.count--;
  }

  /** Claims a slot for `ip`; false when it already holds --per-ip connections. */
  claimAddress(ip: string): boolean {
    if (this.perIp <= 0) return true;
    const key = clientKey(ip);
    const held = this.perAddress.get(key) ?? 0;
    if (held >= this.perIp) return false;
    this.perAddress.set(key, held + 1);
    return true;
  }

  releaseAddress(ip: string): void {
    if (this.perIp <= 0) return;
    const key = clientKey(ip);
    const held = this.perAddress.get(key) ?? 0;
    if (held <= 1) this.perAddress.delete(key);
    else this.perAddress.set(key, held - 1);
  }
}
