import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AuthRefused } from "../../mod/auth/request.ts";
import { cryptHash, hashPassword } from "../../mod/sys/crypt.ts";
import { authenticateOffThread } from "../../mod/standalone/async_auth.ts";
import { parseLoginChain, parsePopupChain } from "../../mod/serve/chain_spec.ts";
import { CredentialCache, credentialCacheTtlMs } from "../../mod/standalone/credential_cache.ts";
import { CryptPool } from "../../mod/standalone/crypt_pool.ts";
import { parseHostPort } from "../../mod/standalone/metrics_server.ts";
import { ListingCache } from "../../mod/standalone/listing_cache.ts";
import { parseServeArgs } from "../../mod/serve/options.ts";
import { SessionCounters, prometheusText, statusText } from "../../mod/standalone/session_counters.ts";
import { POPPIN, tempDir } from "../helpers.ts";
import { DECOY_SETTINGS, costClass } from "../../mod/auth/verify.ts";

const dir = tempDir("chain");
const self = join(dir, "poppin");
writeFileSync(self, "#!/bin/sh\n");
chmodSync(self, 0o755);
const bin = join(dir, "bin");
mkdirSync(bin);
for (const name of ["qmail-popup", "checkpassword", "qmail-pop3d", "poppin"]) symlinkSync(self, join(bin, name));
const foreign = join(dir, "foreign");
mkdirSync(foreign);
writeFileSync(join(foreign, "checkpassword"), "#!/bin/sh\n");
chmodSync(join(foreign, "checkpassword"), 0o755);
const resolver = { self, path: bin };

describe("chain recognition", () => {
  test("poppin APPLET words, classic symlinks and options", () => {
    const a = parsePopupChain(["poppin", "popup", "mail.example", "poppin", "checkpassword", "--userdb=/etc/u.cdb", "poppin", "pop3d", "--compat=qmail", "Maildir"], resolver);
    expect(a).toEqual({
      hostname: "mail.example", popupPrefix: "poppin popup", popupOptions: [], checkpasswordPrefix: "poppin checkpassword", pop3dPrefix: "poppin pop3d",
      checkpasswordLabel: "poppin checkpassword", pop3dLabel: "poppin pop3d",
      userdbOption: "/etc/u.cdb", compatOption: "qmail", maildir: "Maildir", pop3dArgs: ["--compat=qmail", "Maildir"],
    });
    const withOptions = parsePopupChain(["qmail-popup", "-f", "/etc/poppin.conf", "--auth-failure-delay=2", "h", "checkpassword", "qmail-pop3d", "Maildir"], resolver);
    expect(withOptions).toMatchObject({ hostname: "h", popupOptions: ["-f", "/etc/poppin.conf", "--auth-failure-delay=2"] });
    expect(parsePopupChain(["qmail-popup", "--no-such-option=1", "h", "checkpassword", "qmail-pop3d", "Maildir"], resolver)).toBe("popup: unknown option --no-such-option");
    const b = parsePopupChain(["qmail-popup", "h", "checkpassword", "qmail-pop3d", "./Maildir/"], resolver);
    expect(b).toMatchObject({ popupPrefix: "qmail-popup", checkpasswordPrefix: "checkpassword", pop3dPrefix: "qmail-pop3d", maildir: "./Maildir/" });
    expect(b).toMatchObject({ checkpasswordLabel: "checkpassword", pop3dLabel: "qmail-pop3d" });
    expect(parsePopupChain([self, "popup", "h", join(bin, "checkpassword"), join(bin, "qmail-pop3d"), "Maildir"], resolver)).toMatchObject({
      maildir: "Maildir", checkpasswordPrefix: "checkpassword", checkpasswordLabel: join(bin, "checkpassword"), pop3dLabel: join(bin, "qmail-pop3d"),
    });
    // As log lines name a program the chain runs: the applet after poppin itself.
    expect(parsePopupChain(["qmail-popup", "h", self, "checkpassword", self, "pop3d", "Maildir"], resolver)).toMatchObject({
      checkpasswordLabel: `${self} checkpassword`, pop3dLabel: `${self} pop3d`,
    });
  });

  test("anything else is refused with the reason", () => {
    expect(parsePopupChain(["/bin/cat"], resolver)).toContain("/bin/cat is not poppin's popup");
    expect(parsePopupChain(["qmail-popup", "h", "/bin/true", "qmail-pop3d", "Maildir"], resolver)).toContain("not poppin's checkpassword");
    expect(parseLoginChain(["checkpassword", "qmail-pop3d"], resolver)).toBe("pop3d must be given exactly one Maildir");
    expect(parseLoginChain(["checkpassword", "qmail-pop3d", "a", "b"], resolver)).toBe("pop3d must be given exactly one Maildir");
    expect(parsePopupChain(["qmail-popup", ""], resolver)).toBe("popup needs a host name");
    // A checkpassword on PATH that is some other program (Debian's, vchkpw ...) is not ours.
    const other = parseLoginChain(["checkpassword", "qmail-pop3d", "Maildir"], { self, path: `${foreign}:${bin}` });
    expect(other).toContain(`is ${join(foreign, "checkpassword")}, not this poppin binary`);
  });

  test("--inline and --metrics are taken out of tcpserver's options only", () => {
    // One parser for tcpserver's flags, --inline and --metrics (mod/serve/options.ts).
    const both = parseServeArgs(["--inline", "-c", "5", "-v", "--metrics", "127.0.0.1:9100", "0", "110", "qmail-popup", "--inline"], {});
    expect(both.kind === "ok" && both.options).toMatchObject({ inline: true, metrics: "127.0.0.1:9100", limit: 5, verbosity: 2, host: "0", port: "110", program: ["qmail-popup", "--inline"] });
    const valued = parseServeArgs(["--inline", "-x", "--inline", "0", "110", "p"], {});
    expect(valued.kind === "ok" && valued.options).toMatchObject({ inline: true, metrics: undefined, rulesPath: "--inline", program: ["p"] });
    const plain = parseServeArgs(["0", "110", "p"], {});
    expect(plain.kind === "ok" && plain.options).toMatchObject({ inline: false, metrics: undefined });
    expect(parseServeArgs(["--metrics"], {})).toEqual({ kind: "usage", complaint: "option requires an argument -- metrics", silent: false });
    expect(parseHostPort("127.0.0.1:9100")).toEqual({ host: "127.0.0.1", port: 9100 });
    expect(parseHostPort("[::1]:80")).toEqual({ host: "::1", port: 80 });
    expect(parseHostPort("9100")).toBeUndefined();
    expect(parseHostPort("h:70000")).toBeUndefined();
  });
});

describe("credential cache", () => {
  test("keyed by login and password; a changed hash or an expired entry misses", () => {
    let now = 1000;
    const cache = new CredentialCache(5000, () => now);
    const enc = new TextEncoder();
    const key = cache.keyOf(enc.encode("joe"), enc.encode("secret"));
    expect(key).not.toContain("secret");
    expect(cache.verified(key, "$y$hash1")).toBe(false);
    cache.remember(key, "$y$hash1");
    expect(cache.verified(key, "$y$hash1")).toBe(true);
    expect(cache.verified(cache.keyOf(enc.encode("joe"), enc.encode("secreT")), "$y$hash1")).toBe(false);
    expect(cache.verified(cache.keyOf(enc.encode("jim"), enc.encode("secret")), "$y$hash1")).toBe(false);
    expect(cache.verified(key, "$y$hash2")).toBe(false); // password changed in the database
    now += 5000;
    expect(cache.verified(key, "$y$hash1")).toBe(false);
    expect(cache.hits).toBe(1);
    expect(cache.size).toBe(0);
  });

  test("bounded: the oldest entry goes first", () => {
    const cache = new CredentialCache(60_000, Date.now, 2);
    for (const k of ["a", "b", "c"]) cache.remember(k, "h");
    expect(cache.size).toBe(2);
    expect(cache.verified("a", "h")).toBe(false);
    expect(cache.verified("c", "h")).toBe(true);
  });

  test("POPPIN_AUTH_CACHE_TTL: off unless a positive number of seconds", () => {
    expect(credentialCacheTtlMs({})).toBeUndefined();
    expect(credentialCacheTtlMs({ POPPIN_AUTH_CACHE_TTL: "0" })).toBeUndefined();
    expect(credentialCacheTtlMs({ POPPIN_AUTH_CACHE_TTL: "x" })).toBeUndefined();
    expect(credentialCacheTtlMs({ POPPIN_AUTH_CACHE_TTL: "300" })).toBe(300_000);
  });
});

describe("crypt off the main thread", () => {
  const pool = new CryptPool(POPPIN, 2);
  afterAll(() => pool.close());
  const enc = new TextEncoder();

  test("the pool computes what crypt_r computes on the main thread, in parallel", async () => {
    const settings = ["$y$j9T$6lnp8T4TDrHjzhRX2tAgy0$", "$6$saltsalt$", "$5$abc$", "$1$xy$"];
    const got = await Promise.all(settings.map((s) => pool.crypt(enc.encode("pässword"), s)));
    expect(got).toEqual(settings.map((s) => cryptHash(enc.encode("pässword"), s)));
    expect(await pool.crypt(enc.encode("x"), "!locked")).toBeUndefined();
  });

  test("the event loop keeps running while yescrypt runs", async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    await Promise.all(Array.from({ length: 4 }, () => pool.crypt(enc.encode("pw"), "$y$j9T$6lnp8T4TDrHjzhRX2tAgy0$")));
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(5);
  });

  test("helpers are processes that start on the first check; one that dies is replaced and its check goes to the new one, once", async () => {
    const single = new CryptPool(POPPIN, 1);
    try {
      expect(single.pids).toEqual([]);
      const setting = "$6$saltsalt$";
      expect(await single.crypt(enc.encode("pw"), setting)).toBe(cryptHash(enc.encode("pw"), setting));
      const [first] = single.pids;
      expect(readFileSync(`/proc/${first}/cmdline`, "latin1").split("\0").slice(1, 3)).toEqual(["serve", "--crypt-helper"]);
      // Our own uid (never the shared nobody), and non-dumpable: the kernel owns its /proc files as root.
      expect(readFileSync(`/proc/${first}/status`, "latin1")).toMatch(new RegExp(`^Uid:\\s+${process.geteuid!()}\\s`, "m"));
      expect(statSync(`/proc/${first}/environ`).uid).toBe(0);
      const costly = "$y$jFT$6lnp8T4TDrHjzhRX2tAgy0$"; // costly enough to be killed in the middle
      const slow = single.crypt(enc.encode("pw"), costly);
      await Bun.sleep(20);
      process.kill(first!, "SIGKILL");
      // The check is given to the next helper, which answers it.
      expect(await slow).toBe(cryptHash(enc.encode("pw"), costly));
      expect(single.pids).toHaveLength(1);
      const second = single.pids[0]!;
      expect(second).not.toBe(first);
      // A helper killed while idle: the next check, sent before its end is seen, is answered too
      // (it failed before: a login after a helper's death got a temporary error).
      process.kill(second, "SIGKILL");
      expect(await single.crypt(enc.encode("pw"), setting)).toBe(cryptHash(enc.encode("pw"), setting));
      expect(single.pids[0]).not.toBe(second);
      // A check whose second helper dies too fails (an input that kills helpers cannot loop).
      const doomed = single.crypt(enc.encode("pw"), costly).then(() => "answered", (e: Error) => e.message);
      for (let killed = 0; killed < 2; ) {
        const pid = single.pids[0];
        if (pid !== undefined) {
          await Bun.sleep(20);
          process.kill(pid, "SIGKILL");
          killed++;
          while (single.pids[0] === pid) await Bun.sleep(2);
        } else await Bun.sleep(2);
      }
      expect(await doomed).toMatch(/^crypt helper \d+ ended \(SIGKILL\)$/);
      expect(await single.crypt(enc.encode("pw"), setting)).toBe(cryptHash(enc.encode("pw"), setting));
    } finally {
      single.close();
    }
  });

  test("authenticate with the pool: the check's crypt calls (own hash, then each other kind's decoy), the cache skips them, refusals unchanged", async () => {
    const root = tempDir("auth");
    const hash = hashPassword(enc.encode("secret"));
    const db = join(root, "users");
    writeFileSync(db, `joe:${hash}:${process.getuid!()}:${process.getgid!()}:${root}\n`);
    const settings: string[] = [];
    const counting = { crypt: (p: Uint8Array, s: string) => { settings.push(s); return pool.crypt(p, s); } } as unknown as CryptPool;
    const cache = new CredentialCache(60_000);
    const config = { userdb: db, minUid: 0, apopSecretsFile: undefined, shadowFile: "/etc/shadow" };
    const request = (login: string, password: string) => ({ login: enc.encode(login), password: enc.encode(password), timestamp: new Uint8Array(), raw: new Uint8Array() });
    const env = { euid: process.geteuid!(), today: 20000 };
    const perCheck = DECOY_SETTINGS.length; // the account's yescrypt hash stands in for the yescrypt decoy
    const ok = await authenticateOffThread(request("joe", "secret"), config, env, { pool: counting, cache });
    expect(ok.account.login).toBe("joe");
    expect(settings).toEqual([hash]); // a right password: its own hash, no decoys
    await authenticateOffThread(request("joe", "secret"), config, env, { pool: counting, cache });
    expect(settings.length).toBe(1); // from the cache: no crypt, no decoys
    settings.length = 0;
    const refusal = async (login: string, password: string) => {
      try {
        await authenticateOffThread(request(login, password), config, env, { pool: counting, cache });
        return "accepted";
      } catch (e) {
        return e instanceof AuthRefused ? "refused" : String(e);
      }
    };
    expect(await refusal("joe", "wrong")).toBe("refused");
    expect(await refusal("nobody-here", "secret")).toBe("refused");
    // A wrong password and an unknown user cost the same: one crypt per kind (the decoys for the unknown one).
    expect(settings.slice(0, perCheck).map(costClass).sort()).toEqual(settings.slice(perCheck).map(costClass).sort());
    expect(settings.slice(perCheck)).toEqual([...DECOY_SETTINGS]);
    // A right password in the cache, refused by a policy since (here POPPIN_HOME_BASE): it costs
    // what a wrong password costs, not an HMAC; a quick -ERR would tell the password was right.
    const wrongClasses = settings.slice(0, perCheck).map(costClass).sort();
    settings.length = 0;
    const refusedConfig = { ...config, homeBase: "/srv/no-home-is-here" };
    let refusedCached = "accepted";
    try {
      await authenticateOffThread(request("joe", "secret"), refusedConfig, env, { pool: counting, cache });
    } catch (e) {
      refusedCached = e instanceof AuthRefused ? "refused" : String(e);
    }
    expect(refusedCached).toBe("refused");
    expect(settings.map(costClass).sort()).toEqual(wrongClasses);
  });
});

test("status line and Prometheus text carry the same figures", () => {
  let now = 0;
  const c = new SessionCounters(() => now);
  c.connectionsOpen = 3;
  c.enter("authorization");
  c.enter("transaction");
  c.enter("transaction");
  c.loginsOk = 120;
  now = 60_000;
  const line = statusText(c, c.loginRate(), 40);
  expect(line).toBe("status connections=3/40 authorization=1 transaction=2 user_processes=0 logins=120 failed=0 logins_per_second=2.00");
  const prom = prometheusText(c, 40, { cryptPending: 0, cacheEntries: 0, cacheHits: 0, cacheMisses: 0 });
  expect(prom).toContain('poppin_sessions{state="transaction"} 2\n');
  expect(prom).toContain('poppin_logins_total{result="ok"} 120\n');
  expect(prom).toContain("# TYPE poppin_connections_open gauge\npoppin_connections_open 3\n");
});

describe("listing cache (--inline)", () => {
  test("an unchanged big Maildir is listed from memory; a delivery or a deletion makes a fresh scan", () => {
    const md = join(tempDir("listing"), "Maildir");
    for (const sub of ["tmp", "new", "cur"]) mkdirSync(join(md, sub), { recursive: true });
    for (let i = 0; i < 1000; i++) writeFileSync(join(md, "cur", `${1600000000 + i}.M${i}P1.host,S=2,W=3:2,S`), "x\n");
    const past = new Date(Date.now() - 10_000);
    const age = () => { for (const sub of ["new", "cur"]) utimesSync(join(md, sub), past, past); };
    age();
    const cache = new ListingCache();
    const first = cache.scan(md, {});
    expect(first.length).toBe(1000);
    expect(cache.size).toEqual({ listings: 1, entries: 1000 });
    expect(cache.scan(md, {})).toBe(first);
    expect(cache.hits).toBe(1);
    writeFileSync(join(md, "new", "1700000000.M1P1.host"), "new mail\n"); // a delivery: new/ changes
    const second = cache.scan(md, {});
    expect(second.length).toBe(1001);
    expect(cache.hits).toBe(1);
    // Just changed (the move to cur/ happened in this very scan): not kept until it is stable.
    expect(cache.size.listings).toBe(0);
    age();
    expect(cache.scan(md, {}).length).toBe(1001);
    unlinkSync(join(md, "cur", readdirSync(join(md, "cur"))[0]!)); // a deletion: cur/ changes
    expect(cache.scan(md, {}).length).toBe(1000);
    expect(cache.hits).toBe(1);
  });

  test("small Maildirs are not kept", () => {
    const md = join(tempDir("listing"), "Maildir");
    for (const sub of ["tmp", "new", "cur"]) mkdirSync(join(md, sub), { recursive: true });
    writeFileSync(join(md, "cur", "1600000000.M1P1.host:2,"), "x\n");
    const past = new Date(Date.now() - 10_000);
    for (const sub of ["new", "cur"]) utimesSync(join(md, sub), past, past);
    const cache = new ListingCache();
    cache.scan(md, {});
    expect(cache.size.listings).toBe(0);
  });

  test("kept only when both directories were last changed STABLE_MS before the scan started (a change during a long scan is never kept)", () => {
    const md = join(tempDir("listing"), "Maildir");
    for (const sub of ["tmp", "new", "cur"]) mkdirSync(join(md, sub), { recursive: true });
    for (let i = 0; i < 1000; i++) writeFileSync(join(md, "cur", `${1600000000 + i}.M${i}P1.host,S=2,W=3:2,S`), "x\n");
    const started = Date.now() - 60_000;
    // The scan "started" a minute ago; new/ changed 1 s after that (during the scan): not kept.
    utimesSync(join(md, "cur"), new Date(started - 5_000), new Date(started - 5_000));
    utimesSync(join(md, "new"), new Date(started + 1_000), new Date(started + 1_000));
    const cache = new ListingCache(() => started);
    expect(cache.scan(md, {}).length).toBe(1000);
    expect(cache.size.listings).toBe(0);
    // Changed 1 s before the start, within STABLE_MS: not kept either; 3 s before: kept.
    utimesSync(join(md, "new"), new Date(started - 1_000), new Date(started - 1_000));
    cache.scan(md, {});
    expect(cache.size.listings).toBe(0);
    utimesSync(join(md, "new"), new Date(started - 3_000), new Date(started - 3_000));
    cache.scan(md, {});
    expect(cache.size.listings).toBe(1);
    expect(cache.scan(md, {}).length).toBe(1000);
    expect(cache.hits).toBe(1);
  });
});
