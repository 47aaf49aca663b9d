/**
 * TAI64N labels, tai64n and tai64nlocal: unit tests of the library, and interop with
 * Debian's tai64nlocal (byte-identical output on a generated corpus under several TZ
 * values; Debian's tai64nlocal reads our tai64n output).
 */
import { describe, expect, test } from "bun:test";
import { applet, requireTool, run } from "../helpers.ts";
import { formatLabel, parseLabel, stampFor } from "../../mod/tai64/label.ts";
import { LabelLocalizer } from "../../mod/tai64/local.ts";
import { LineStamper } from "../../mod/tai64/stamp.ts";
import { prng } from "../log/harness.ts";

const TAI_EPOCH_HEX = 0x4000000000000000n + 10n;

function label(unixSeconds: bigint, nanos: number): string {
  return `@${(TAI_EPOCH_HEX + unixSeconds).toString(16).padStart(16, "0")}${nanos.toString(16).padStart(8, "0")}`;
}

describe("labels", () => {
  test("formatting: 2^62 + 10 + Unix seconds, then nanoseconds, lowercase hex", () => {
    const out = new Uint8Array(25);
    formatLabel(out, 0, { sec: 0, nsec: 0 });
    expect(Buffer.from(out).toString()).toBe("@400000000000000a00000000");
    formatLabel(out, 0, { sec: 1795303800, nsec: 123456789 });
    expect(Buffer.from(out).toString()).toBe(label(1795303800n, 123456789));
    formatLabel(out, 0, { sec: 2 ** 33 + 5, nsec: 999999999 });
    expect(Buffer.from(out).toString()).toBe(label(BigInt(2 ** 33 + 5), 999999999));
    expect(Buffer.from(stampFor({ sec: 1, nsec: 2 })).toString()).toBe(`${label(1n, 2)} `);
  });

  test("parsing inverts formatting and refuses what is not a label", () => {
    expect(parseLabel(label(1795303800n, 42))).toEqual({ sec: 1795303800, nsec: 42 });
    expect(parseLabel("@4000")).toBeUndefined();
    expect(parseLabel(label(1n, 1).toUpperCase())).toBeUndefined();
  });
});

describe("tai64n library", () => {
  test("every line gets the stamp; a line split across reads gets it once; no final newline added", () => {
    const s = new LineStamper();
    const stamp = new TextEncoder().encode("S ");
    const a = Buffer.from(s.feed(Buffer.from("one\ntw"), stamp)).toString();
    const b = Buffer.from(s.feed(Buffer.from("o\n\nthree"), stamp)).toString();
    expect(a + b).toBe("S one\nS two\nS \nS three");
  });
});

describe("tai64nlocal library", () => {
  const utc = (secs: bigint) => {
    const d = new Date(Number(secs) * 1000);
    if (Number.isNaN(d.getTime())) return null;
    return { year: d.getUTCFullYear() - 1900, mon: d.getUTCMonth(), mday: d.getUTCDate(), hour: d.getUTCHours(), min: d.getUTCMinutes(), sec: d.getUTCSeconds() };
  };
  const convert = (input: string, chunk = 3) => {
    const l = new LabelLocalizer(utc);
    let out = "";
    for (let i = 0; i < input.length; i += chunk) out += Buffer.from(l.feed(Buffer.from(input.slice(i, i + chunk), "latin1"))).toString("latin1");
    return out;
  };

  test("labels become dates whatever the read sizes; other lines pass unchanged", () => {
    const text = `${label(0n, 5)} a\nplain @line\n${label(86400n, 999999999)}\n`;
    expect(convert(text, 1)).toBe("1970-01-01 00:00:00.000000005 a\nplain @line\n1970-01-02 00:00:00.999999999\n");
    expect(convert(text, 1000)).toBe(convert(text, 1));
  });

  test("uppercase hex ends the label; an 8-hex-digit nanosecond field over 999999999 prints 10 digits", () => {
    expect(convert(`${label(0n, 0xffffffff)}X\n`)).toBe("1970-01-01 00:00:00.4294967295X\n");
  });

  test("a label cut off by the end of input is dropped; an unconvertible one passes through", () => {
    expect(convert("a\n@40000000")).toBe("a\n");
    expect(convert("@ x\n@zz\n")).toBe("@ x\n@zz\n");
  });
});

/** Labels around now and far away, malformed ones that daemontools still converts, odd bytes. */
function corpus(seed: number): Buffer {
  const rand = prng(seed);
  const parts: Buffer[] = [];
  for (let i = 0; i < 400; i++) {
    const secs = BigInt(Math.floor((rand() - 0.3) * 4e9));
    const nanos = Math.floor(rand() * 1e9);
    const kind = Math.floor(rand() * 8);
    if (kind === 0) parts.push(Buffer.from(`${label(secs, nanos)} text ${i}\n`));
    else if (kind === 1) parts.push(Buffer.from(`${label(secs, nanos)}\n`)); // label alone
    else if (kind === 2) parts.push(Buffer.from(`${label(secs, 0xfffffff0 + (i % 16))}x${i}\n`)); // nanoseconds over 10^9
    else if (kind === 3) parts.push(Buffer.from(`${label(secs, nanos)}G not hex after ${i}\n`));
    else if (kind === 4) parts.push(Buffer.from(`no label ${i} @${label(secs, nanos)}\n`));
    else if (kind === 5) parts.push(Buffer.from([0x00, 0xff, 0x40 + (i % 2) * 0x20, 0x0d, 0x0a])); // binary, "@" or "`"
    else if (kind === 6) parts.push(Buffer.from(`${label(3600n * BigInt(i), nanos)} hourly\n`));
    else parts.push(Buffer.from("\n"));
  }
  parts.push(Buffer.from(`${label(0n, 1)} last line without newline`));
  return Buffer.concat(parts);
}

const ZONES = [undefined, "UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "EST5EDT,M3.2.0,M11.1.0", "<+0545>-5:45", "XYZ3", ":Europe/Paris", "right/UTC"];

describe("interop with Debian's tai64nlocal", () => {
  test.each(ZONES.map((z) => [z ?? "(unset)", z]))("byte-identical output, TZ=%s", (_name, zone) => {
    const debian = requireTool("tai64nlocal");
    const input = Buffer.concat([corpus(11), Buffer.from("\n"), corpus(12), Buffer.from("\n@4000000068")]); // ends inside a label
    const env = { ...process.env, TZ: zone };
    if (zone === undefined) delete env.TZ;
    const d = run([debian], { stdin: input, env });
    const o = run([applet("tai64nlocal")], { stdin: input, env });
    expect(d.code).toBe(0);
    expect(o.code).toBe(0);
    expect(o.out.length).toBeGreaterThan(input.length / 2);
    expect(Buffer.compare(Buffer.from(o.stdout), Buffer.from(d.stdout))).toBe(0);
  });

  test("where daemontools crashes (no usable seconds in the label) we pass the line through", () => {
    const debian = requireTool("tai64nlocal");
    for (const bad of ["@\n", "@x\n", "@4000000068 short\n", "@400000006b02283c0944a0941234 too long\n", "@7fffffffffffffff00000000 far\n"]) {
      const d = run([debian], { stdin: bad });
      expect(d.code).not.toBe(0); // SIGSEGV in daemontools 0.76
      const o = run([applet("tai64nlocal")], { stdin: bad });
      expect(o.code).toBe(0);
      expect(o.out).toBe(bad);
    }
  });

  test("closed stdin or stdout: exit codes as daemontools' (111 when a read or a write fails, 0 when nothing was to be written)", () => {
    const cases = [["<&-", ""], ["<&- >&-", ""], [">&-", "a line\n"], [">&-", ""], [">&-", "@400000006b117c2211294d8c labelled\n"]];
    for (const name of ["tai64n", "tai64nlocal"]) {
      for (const [redirect, input] of cases) {
        const shell = (bin: string) => run(["bash", "-c", `${bin} ${redirect}`], { stdin: input });
        const theirs = shell(requireTool(name));
        const mine = shell(applet(name));
        expect({ name, redirect, input, code: mine.code, err: mine.stderr }).toEqual({ name, redirect, input, code: theirs.code, err: theirs.stderr });
      }
    }
    expect(run(["bash", "-c", `${applet("tai64n")} <&-`]).code).toBe(111);
    expect(run(["bash", "-c", `${applet("tai64n")} >&-`], { stdin: "x\n" }).code).toBe(111);
  });

  test("Debian's tai64nlocal reads our tai64n output; the shape matches Debian's tai64n", () => {
    const input = "first\n\nthird line\nno newline";
    const ours = run([applet("tai64n")], { stdin: input });
    const theirs = run([requireTool("tai64n")], { stdin: input });
    expect(ours.code).toBe(0);
    const shape = (s: string) => s.replace(/@4000[0-9a-f]{20} /g, "@L ");
    expect(shape(ours.out)).toBe(shape(theirs.out));
    expect(shape(ours.out)).toBe("@L first\n@L \n@L third line\n@L no newline");
    const local = run([requireTool("tai64nlocal")], { stdin: ours.stdout, env: { ...process.env, TZ: "UTC" } });
    const lines = local.out.split("\n");
    expect(lines.length).toBe(4);
    const now = Date.now();
    for (const line of lines) {
      const when = Date.parse(`${line.slice(0, 23).replace(" ", "T")}Z`);
      expect(Math.abs(now - when)).toBeLessThan(60_000);
    }
    expect(lines.map((l) => l.slice(29))).toEqual([" first", " ", " third line", " no newline"]);
  });
});
