/**
 * NameLookups (mod/serve/remote_host.ts) over a resolver of the test's: a lookup that never
 * ends gives no name after the wait and still counts until the resolver ends it, at most `max`
 * count at once (then names are not asked for, with one warning), and the -p check.
 */
import { describe, expect, test } from "bun:test";
import { djbdnsName, NameLookups, type NameResolver } from "../../mod/serve/remote_host.ts";

/** A resolver whose every answer the test gives (or never gives) by hand. */
function manualResolver() {
  const pending: { key: string; resolve: (v: unknown) => void; reject: (e: Error) => void }[] = [];
  const ask = <T>(key: string) => new Promise<T>((resolve, reject) => pending.push({ key, resolve: resolve as (v: unknown) => void, reject }));
  const resolver: NameResolver = {
    nameOf: (ip) => ask<string>(`name ${ip}`),
    addressesOf: (name) => ask<string[]>(`addresses ${name}`),
  };
  return {
    resolver,
    asked: () => pending.map((p) => p.key),
    answer(key: string, value: unknown) {
      const i = pending.findIndex((p) => p.key === key);
      if (i < 0) throw new Error(`${key} was not asked`);
      pending.splice(i, 1)[0].resolve(value);
    },
    fail(key: string) {
      const i = pending.findIndex((p) => p.key === key);
      pending.splice(i, 1)[0].reject(new Error("ETIMEOUT"));
    },
  };
}

describe("djbdnsName: the resolver's text as tcpserver's TCPREMOTEHOST", () => {
  test("lower case; bytes other than a-z, 0-9, - and _ in octal; the resolver's escapes undone first", () => {
    const cases: [string, string][] = [
      ["mail.example.org", "mail.example.org"],
      ["MAIL.Example.ORG", "mail.example.org"],
      ["x_y-z.example.", "x_y-z.example"],
      ["sp ace.example", "sp\\040ace.example"],
      ["nl\\010x.example", "nl\\012x.example"],
      ["bs\\\\x.example", "bs\\134x.example"],
      ["dot\\.in.label", "dot\\056in.label"],
      ["a:b%c.example", "a\\072b\\045c.example"],
      ["caf\\195\\169.example", "caf\\303\\251.example"],
      ["café.example", "caf\\303\\251.example"],
    ];
    expect(cases.map(([from]) => djbdnsName(from))).toEqual(cases.map(([, to]) => to));
  });

  test("the name a lookup gives is in that text, the paranoid check looks up the resolver's", async () => {
    const r = manualResolver();
    const names = new NameLookups({ resolver: r.resolver });
    const plain = names.remoteHostName("192.0.2.1", false);
    const checked = names.remoteHostName("192.0.2.2", true);
    r.answer("name 192.0.2.1", "Sp ace.Example");
    r.answer("name 192.0.2.2", "Two.Example");
    await Bun.sleep(0);
    r.answer("addresses Two.Example", ["192.0.2.2"]);
    expect(await Promise.all([plain, checked])).toEqual(["sp\\040ace.example", "two.example"]);
  });
});

describe("NameLookups", () => {
  test("an answer in time is the name; the address itself or a failure is none", async () => {
    const r = manualResolver();
    const names = new NameLookups({ resolver: r.resolver });
    const a = names.hostName("192.0.2.1");
    const b = names.hostName("192.0.2.2");
    const c = names.hostName("192.0.2.3");
    r.answer("name 192.0.2.1", "mail.example.org");
    r.answer("name 192.0.2.2", "192.0.2.2");
    r.fail("name 192.0.2.3");
    expect(await Promise.all([a, b, c])).toEqual(["mail.example.org", undefined, undefined]);
    expect(names.inFlight).toBe(0);
  });

  test("a lookup that never ends: no name after the wait, and it counts until the resolver ends it; its late answer is used by no one", async () => {
    const r = manualResolver();
    const names = new NameLookups({ resolver: r.resolver, waitMs: 20 });
    expect(await names.hostName("192.0.2.9")).toBeUndefined();
    expect(names.inFlight).toBe(1);
    r.answer("name 192.0.2.9", "late.example.org");
    await Bun.sleep(0);
    expect(names.inFlight).toBe(0);
    // A new connection asks again: nothing of the late answer was kept.
    const again = names.hostName("192.0.2.9");
    expect(r.asked()).toEqual(["name 192.0.2.9"]);
    r.answer("name 192.0.2.9", "now.example.org");
    expect(await again).toBe("now.example.org");
  });

  test("at most `max` in flight: beyond, no lookup and no name, one warning until half are done", async () => {
    const r = manualResolver();
    const warnings: number[] = [];
    const names = new NameLookups({ resolver: r.resolver, waitMs: 20, max: 4, full: (max) => warnings.push(max) });
    const given = await Promise.all(["1", "2", "3", "4", "5", "6"].map((n) => names.hostName(`192.0.2.${n}`)));
    expect(given).toEqual([undefined, undefined, undefined, undefined, undefined, undefined]);
    expect(r.asked()).toEqual(["name 192.0.2.1", "name 192.0.2.2", "name 192.0.2.3", "name 192.0.2.4"]);
    expect(warnings).toEqual([4]);
    // One ends: room for one more, and no second warning while the lookups stay above half.
    r.fail("name 192.0.2.1");
    await Bun.sleep(0);
    const next = names.hostName("192.0.2.7");
    r.answer("name 192.0.2.7", "seven.example.org");
    expect(await next).toBe("seven.example.org");
    await names.hostName("192.0.2.8");
    expect(r.asked()).toEqual(["name 192.0.2.2", "name 192.0.2.3", "name 192.0.2.4", "name 192.0.2.8"]);
    expect(await names.hostName("192.0.2.10")).toBeUndefined();
    expect(warnings).toEqual([4]);
    // Down to half: the next time it fills up is warned about again.
    for (const ip of ["2", "3", "4"]) r.fail(`name 192.0.2.${ip}`);
    await Bun.sleep(0);
    expect(names.inFlight).toBe(1);
    await Promise.all(["11", "12", "13", "14"].map((n) => names.hostName(`192.0.2.${n}`)));
    expect(warnings).toEqual([4, 4]);
  });

  test("-p: the name counts only if it resolves back to the address, in time", async () => {
    const r = manualResolver();
    const names = new NameLookups({ resolver: r.resolver, waitMs: 50 });
    const good = names.remoteHostName("192.0.2.1", true);
    const forged = names.remoteHostName("192.0.2.2", true);
    const stuck = names.remoteHostName("192.0.2.3", true);
    const trusting = names.remoteHostName("192.0.2.3", false);
    r.answer("name 192.0.2.1", "one.example.org");
    r.answer("name 192.0.2.2", "bank.example.com");
    r.answer("name 192.0.2.3", "slow.example.net");
    r.answer("name 192.0.2.3", "slow.example.net");
    await Bun.sleep(0);
    r.answer("addresses one.example.org", ["2001:db8::1", "192.0.2.1"]);
    r.answer("addresses bank.example.com", ["198.51.100.7"]);
    expect(await Promise.all([good, forged, stuck, trusting])).toEqual(["one.example.org", undefined, undefined, "slow.example.net"]);
    expect(r.asked()).toEqual(["addresses slow.example.net"]);
  });

  test("a resolver that throws instead of rejecting gives no name and frees its place", async () => {
    const names = new NameLookups({
      max: 1,
      resolver: { nameOf: () => { throw new Error("EINVAL"); }, addressesOf: async () => [] },
    });
    expect(await names.hostName("192.0.2.1")).toBeUndefined();
    expect(names.inFlight).toBe(0);
  });
});
