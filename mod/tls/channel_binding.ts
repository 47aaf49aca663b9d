/**
 * Channel-binding data of a server-side TLS connection for SCRAM-...-PLUS:
 * - tls-exporter (RFC 9266): 32 octets exported with the label "EXPORTER-Channel-Binding"
 *   and no context; only on TLS 1.3, where the exporter is bound to the whole handshake.
 * - tls-server-end-point (RFC 5929 section 4.1): the hash of our certificate, with the
 *   hash of its signature algorithm, or SHA-256 where that is MD5 or SHA-1.
 * Bun's TLSSocket offers both exportKeyingMaterial() and getCertificate().raw.
 */
import { ENV } from "../base/env.ts";
import { nodeCrypto } from "../sys/builtins.ts";
import type tls from "node:tls";
import type { ChannelBindingType } from "../sasl/scram.ts";

/** DER AlgorithmIdentifier OIDs whose hash is not SHA-256 (RFC 5929 keeps SHA-384/512 as they are). */
const OID_HASHES: [Buffer, "sha384" | "sha512"][] = [
  [Buffer.from("06092a864886f70d01010c", "hex"), "sha384"], // sha384WithRSAEncryption
  [Buffer.from("06092a864886f70d01010d", "hex"), "sha512"], // sha512WithRSAEncryption
  [Buffer.from("06082a8648ce3d040303", "hex"), "sha384"], // ecdsa-with-SHA384
  [Buffer.from("06082a8648ce3d040304", "hex"), "sha512"], // ecdsa-with-SHA512
];

/** A DER element's header at `at`: where its content starts and how long it is; undefined when malformed. */
function derElement(buf: Buffer, at: number): { content: number; length: number } | undefined {
  if (at + 2 > buf.length) return undefined;
  let length = buf[at + 1];
  let content = at + 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    if (octets === 0 || octets > 3 || content + octets > buf.length) return undefined;
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + buf[content + i];
    content += octets;
  }
  return content + length <= buf.length ? { content, length } : undefined;
}

/** The hash RFC 5929 names for a certificate: its outer signatureAlgorithm's, SHA-256 for MD5, SHA-1 and anything unknown. */
export function endPointHash(der: Uint8Array): "sha256" | "sha384" | "sha512" {
  const buf = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  const cert = derElement(buf, 0); // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }
  const tbs = cert && derElement(buf, cert.content);
  const algorithm = tbs && derElement(buf, tbs.content + tbs.length);
  if (!algorithm) return "sha256";
  const identifier = buf.subarray(algorithm.content, algorithm.content + algorithm.length);
  for (const [oid, name] of OID_HASHES) if (identifier.indexOf(oid) === 0) return name;
  return "sha256";
}

export function channelBindingData(socket: tls.TLSSocket, type: ChannelBindingType): Uint8Array | undefined {
  try {
    if (type === "tls-exporter") {
      if (socket.getProtocol() !== "TLSv1.3") return undefined;
      // TLS 1.3 (RFC 8446 section 7.5): an empty context is the same as none.
      return new Uint8Array(socket.exportKeyingMaterial(32, "EXPORTER-Channel-Binding", Buffer.alloc(0)));
    }
    const raw = socket.getCertificate() as { raw?: Buffer } | null;
    if (!raw?.raw) return undefined;
    return new Uint8Array(nodeCrypto().createHash(endPointHash(raw.raw)).update(raw.raw).digest());
  } catch {
    return undefined;
  }
}

/** Where serve --tls puts the binding data for the program behind it (base64). */
export const CHANNEL_BINDING_VARIABLES: Record<ChannelBindingType, string> = {
  "tls-exporter": ENV.tlsExporter.name,
  "tls-server-end-point": ENV.tlsServerEndPoint.name,
};

/** The binding data serve --tls passed in the environment (popup behind implicit TLS). */
export function channelBindingFromEnv(env: NodeJS.ProcessEnv, type: ChannelBindingType): Uint8Array | undefined {
  const text = env[CHANNEL_BINDING_VARIABLES[type]];
  if (text === undefined || !/^[A-Za-z0-9+/]{43}=$|^[A-Za-z0-9+/]{64}$|^[A-Za-z0-9+/]{86}==$/.test(text)) return undefined;
  return new Uint8Array(Buffer.from(text, "base64"));
}
