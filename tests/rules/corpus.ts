/** Seeded generator of tcprules input files: every address form, odd quotes, duplicates, malformed lines. */
import { int, pick, type Rng } from "../cdb/corpus.ts";

export interface RulesFile {
  text: Uint8Array;
  /** 1-based number of the malformed line, or 0 when the file is valid. */
  badLine: number;
  /** Connections worth asking tcprulescheck about. */
  queries: { ip?: string; host?: string; info?: string }[];
}

const HOSTS = ["mail.example.com", "example.com", "a.b.example.org", "localhost", "x.y", "relay.example.net"];
const USERS = ["joe", "root", "m.x", "a-b"];
const QUOTES = [`"`, `'`, "/", "|", "#", "!", "x", "%", ":", ",", "="];

function ip4(rng: Rng): string {
  return [int(rng, 0, 255), int(rng, 0, 255), int(rng, 0, 255), int(rng, 0, 255)].join(".");
}

function value(rng: Rng, quote: string): string {
  const alphabet = "abcXYZ019 =,:.@-_/é\"'";
  let out = "";
  for (let i = int(rng, 0, 12); i > 0; i--) {
    const c = alphabet[int(rng, 0, alphabet.length - 1)];
    if (c !== quote) out += c;
  }
  return out;
}

function envInstruction(rng: Rng): string {
  const name = pick(rng, ["RELAYCLIENT", "A", "TCPREMOTEHOST", "X_1", "lower", "A,B", "SP ACE", "DUP"]);
  const quote = pick(rng, QUOTES);
  return `,${name}=${quote}${value(rng, quote)}${quote}`;
}

interface Address { text: string; queries: RulesFile["queries"] }

function address(rng: Rng): Address {
  const ip = ip4(rng);
  const octets = ip.split(".");
  switch (int(rng, 0, 10)) {
    case 0: return { text: ip, queries: [{ ip }] };
    case 1: {
      const n = int(rng, 1, 3);
      const prefix = octets.slice(0, n).join(".") + ".";
      return { text: prefix, queries: [{ ip: prefix + Array.from({ length: 4 - n }, () => int(rng, 0, 255)).join(".") }] };
    }
    case 2: {
      const lo = pick(rng, [int(rng, 0, 255), int(rng, 0, 20)]);
      const hi = pick(rng, [lo + int(rng, 0, 10), int(rng, 250, 400), Math.max(0, lo - 3)]);
      const base = octets.slice(0, 3).join(".");
      return { text: `${base}.${lo}-${hi}`, queries: [{ ip: `${base}.${Math.min(255, lo + 1)}` }, { ip: `${base}.${lo}` }] };
    }
    case 3: return { text: `${octets[0]}.${int(rng, 0, 9)}-${int(rng, 5, 30)}.`, queries: [{ ip: `${octets[0]}.7.1.1` }] };
    case 4: {
      const host = pick(rng, HOSTS);
      return { text: `=${host}`, queries: [{ ip: ip4(rng), host }] };
    }
    case 5: {
      const host = pick(rng, HOSTS);
      const domain = host.slice(host.indexOf("."));
      return { text: `=${domain}`, queries: [{ ip: ip4(rng), host: `www${domain}` }, { ip: ip4(rng), host }] };
    }
    case 6: {
      const info = pick(rng, USERS);
      return { text: `${info}@${ip}`, queries: [{ ip, info }, { ip, info: "other" }] };
    }
    case 7: {
      const info = pick(rng, USERS);
      const host = pick(rng, HOSTS);
      return { text: `${info}@=${host}`, queries: [{ ip: ip4(rng), host, info }] };
    }
    case 8: return { text: "", queries: [{ ip: ip4(rng) }] };
    case 9: return { text: "=", queries: [{ ip: ip4(rng), host: "" }, { ip: ip4(rng), host: "any.where" }] };
    default: return { text: `${octets[0]}.${octets[1]}.-${int(rng, 0, 5)}`, queries: [{ ip: `${octets[0]}.${octets[1]}.2` }] };
  }
}

const MALFORMED = [
  "1.2.3.4:allo", "1.2.3.4:allow,X", "1.2.3.4:allow,X=", `1.2.3.4:allow,X="open`, `1.2.3.4:allow ,X="1"`,
  "1.2.3.4: deny", "1.2.3.x-5:allow", "1.2.3.4:allow\r", "1.2.3.4:denyx", "1.2.3.4-5-6:deny", `1.2.3.4:allow,X="1"junk`,
  "1.2.3.4:allow,X\u0000Y", "=host:permit", ":", "1.2.3.4:allow,", "1.2.3.1a-5:deny", "\t1.2.3.4:\tallow",
];

const enc = new TextEncoder();

/** One rules file; when `broken`, one malformed line somewhere after the first. */
export function rulesFile(rng: Rng, broken: boolean): RulesFile {
  const lines: string[] = [];
  const queries: RulesFile["queries"] = [];
  const used: Address[] = [];
  const count = pick(rng, [1, 3, 10, 30, int(rng, 1, 120)]);
  for (let i = 0; i < count; i++) {
    switch (int(rng, 0, 12)) {
      case 0: lines.push(pick(rng, ["# a comment: allow", "#", "#1.2.3.4:deny"])); continue;
      case 1: lines.push(pick(rng, ["", "   ", "\t \t"])); continue;
      case 2: lines.push(pick(rng, ["no colon on this line", "allow", " # indented comment:allow"])); continue;
      default: break;
    }
    const a = used.length > 0 && rng() < 0.15 ? pick(rng, used) : address(rng); // duplicates
    used.push(a);
    queries.push(...a.queries);
    let line = `${a.text}:${pick(rng, ["allow", "deny"])}`;
    for (let k = pick(rng, [0, 0, 1, 2, 3]); k > 0; k--) line += envInstruction(rng);
    line += pick(rng, ["", "", " ", "\t", "  \t "]);
    lines.push(line);
  }
  let badLine = 0;
  if (broken) {
    badLine = int(rng, 1, lines.length + 1);
    lines.splice(badLine - 1, 0, pick(rng, MALFORMED));
  }
  queries.push({ ip: ip4(rng) }, {}, { ip: "1.2.3.4", host: "mail.example.com", info: "joe" });
  const text = lines.join("\n") + (rng() < 0.8 ? "\n" : "");
  return { text: enc.encode(text), badLine, queries };
}
