import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MessageEncoder } from "../../mod/pop3/message_encoder.ts";
import { ENCODER_WASM, messageChunk, wasmEncoder } from "../../mod/pop3/message_encoder_wasm.ts";
import { MESSAGE_READ_CHUNK } from "../../mod/pop3/limits.ts";
import { prng } from "../prng.ts";

test("the module's bytes are message_encoder.wat built by wat2wasm, and it runs here", () => {
  const dir = mkdtempSync(join(tmpdir(), "poppin-wasm-"));
  try {
    const built = join(dir, "encoder.wasm");
    const r = Bun.spawnSync(["wat2wasm", join(import.meta.dir, "../../mod/pop3/message_encoder.wat"), "-o", built]);
    expect(r.stderr.toString()).toBe("");
    expect(readFileSync(built).toString("base64")).toBe(ENCODER_WASM);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  expect(wasmEncoder()).toBeDefined();
  expect(messageChunk().length).toBe(MESSAGE_READ_CHUNK);
});

/** RETR through the WebAssembly encoder, and the TypeScript loop (TOP with no line limit counts lines but sends all). */
function both(message: Uint8Array, pieces: number[], inChunk: boolean): [string, string, number, number] {
  const run = (bodyLines: number | undefined) => {
    const e = new MessageEncoder(bodyLines);
    const out = new Uint8Array(MessageEncoder.maxOutput(message.length) + 16);
    let o = 0;
    let k = 0;
    for (let pos = 0; pos < message.length;) {
      const n = Math.min(message.length - pos, Math.max(1, pieces[k++ % pieces.length]!));
      let piece = message.subarray(pos, pos + n);
      if (inChunk && n <= MESSAGE_READ_CHUNK) {
        const chunk = messageChunk();
        chunk.set(piece);
        piece = chunk.subarray(0, n);
      }
      o = e.encode(piece, out, o);
      pos += n;
    }
    o = e.finish(out, o);
    return [Buffer.from(out.subarray(0, o)).toString("latin1"), e.octets] as const;
  };
  const [a, octetsA] = run(undefined);
  const [b, octetsB] = run(Number.MAX_SAFE_INTEGER);
  return [a, b, octetsA, octetsB];
}

test("the WebAssembly encoder sends what the TypeScript one sends: random messages, random pieces, read into its input area or not", () => {
  const next = prng(20261203);
  const random = { int: (n: number) => Math.floor(next() * n) };
  const alphabets = [[0x0a, 0x0d, 0x2e, 0x61, 0x20], [0x0a, 0x0d, 0x2e, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70]];
  for (let t = 0; t < 3000; t++) {
    const length = t < 2000 ? random.int(100) : random.int(5000);
    const alphabet = alphabets[t % 2]!;
    const message = new Uint8Array(length);
    for (let i = 0; i < length; i++) message[i] = alphabet[random.int(alphabet.length)]!;
    const pieces = [1 + random.int(40), 1 + random.int(300), 16, 17, 15];
    const [wasm, ts, octetsWasm, octetsTs] = both(message, pieces, t % 3 !== 0);
    if (wasm !== ts) expect({ message: Buffer.from(message).toString("latin1"), pieces, wasm }).toEqual({ message: Buffer.from(message).toString("latin1"), pieces, wasm: ts });
    expect(octetsWasm).toBe(octetsTs);
  }
});

test("pieces as large as the input area and larger, CRLF split across pieces, a dot after the split", () => {
  const line = "The quick brown fox jumps over the lazy dog.\n..dot line\r\n\r\n.\n";
  const big = Buffer.from(line.repeat(Math.ceil((3 * MESSAGE_READ_CHUNK) / line.length)), "latin1");
  for (const pieces of [[MESSAGE_READ_CHUNK], [MESSAGE_READ_CHUNK + 7], [3 * MESSAGE_READ_CHUNK], [44, 1, 1, 1]]) {
    for (const inChunk of [true, false]) {
      const [wasm, ts, octetsWasm, octetsTs] = both(big, pieces, inChunk);
      expect(wasm.length).toBe(ts.length);
      expect(wasm === ts).toBe(true);
      expect(octetsWasm).toBe(octetsTs);
    }
  }
  expect(both(Buffer.from("a\r"), [1], true)[0]).toBe("a\r\r\n.\r\n");
  expect(both(Buffer.from("a\r\n.b\n"), [2, 1, 1, 2], true)[0]).toBe("a\r\n..b\r\n.\r\n");
  expect(both(Buffer.from(".\n.."), [1, 1, 1, 1], false)[0]).toBe("..\r\n...\r\n.\r\n");
});
