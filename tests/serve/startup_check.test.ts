/**
 * Configuration that fails fast: serve (classic and --inline) checks poppin's own chain
 * before it listens: popup's flags and config file, the certificate, the user database,
 * pop3d's arguments. A problem is exit 111 with the file and line, and the port is never
 * opened. SIGHUP checks again and keeps the old configuration when the new one is broken.
 */
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { applet, run, startPortServer, tempDir } from "../helpers.ts";
import { talk } from "../standalone/harness.ts";
import { makeBox, makeCertificate, type Box } from "../tls/harness.ts";

const MODES = [["classic", []], ["inline", ["--inline"]]] as const;

/** A port nobody listens on (bound and released). */
async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    sock.on("connect", () => { sock.destroy(); resolve(false); });
    sock.on("error", () => resolve(true));
  });
}

function chain(popupArgs: string[], pop3dArgs: string[] = ["Maildir"], checkArgs: string[] = []): string[] {
  return [applet("qmail-popup"), ...popupArgs, "pop.example.org", applet("checkpassword"), ...checkArgs, applet("qmail-pop3d"), ...pop3dArgs];
}

let box: Box | undefined;
function theBox(): Box {
  box ??= makeBox();
  return box;
}

/** Runs serve on a fixed free port with `program`; it must exit by itself. */
async function startFails(mode: readonly string[], program: string[], env: Record<string, string> = {}) {
  const port = await freePort();
  const r = run([applet("tcpserver"), ...mode, "-1", "-v", "-HR", "127.0.0.1", String(port), ...program], {
    cwd: theBox().home,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", POPPIN_USERDB: theBox().userdb, ...env },
    timeoutMs: 5_000,
  });
  return { ...r, portRefused: await refused(port) };
}

for (const [name, mode] of MODES) {
  describe(`serve ${name}: the chain's configuration is checked before listening`, () => {
    test("a typo in the config file: exit 111 naming the file and line, no port printed, nothing listening", async () => {
      const conf = join(tempDir("conf"), "poppin.conf");
      writeFileSync(conf, "set timeout = 60\nset shyy\n");
      const r = await startFails(mode, chain(["-f", conf]));
      expect(r.code).toBe(111);
      expect(r.stderr).toContain(`tcpserver: fatal: qmail-popup: ${conf} line 2: unknown option "shyy"`);
      expect(r.out).toBe(""); // -1 never printed a port
      expect(r.portRefused).toBe(true);
    });

    test("OAuth settings that would refuse every token (a JWKS without issuer or audience, an http:// endpoint): exit 111 naming them", async () => {
      const jwks = join(tempDir("jwks"), "jwks.json");
      writeFileSync(jwks, '{"keys":[]}');
      const noIssuer = await startFails(mode, chain([]), { POPPIN_OAUTH_JWKS: jwks, POPPIN_OAUTH_AUDIENCE: "pop.example.org" });
      expect(noIssuer.code).toBe(111);
      expect(noIssuer.stderr).toContain("tcpserver: fatal: checkpassword: POPPIN_OAUTH_ISSUER must be set with POPPIN_OAUTH_JWKS");
      expect(noIssuer.portRefused).toBe(true);
      const noAudience = await startFails(mode, chain([]), { POPPIN_OAUTH_JWKS: jwks, POPPIN_OAUTH_ISSUER: "https://issuer.example" });
      expect(noAudience.stderr).toContain("tcpserver: fatal: checkpassword: POPPIN_OAUTH_AUDIENCE must be set with POPPIN_OAUTH_JWKS");
      expect(noAudience.code).toBe(111);
      const plainHttp = await startFails(mode, chain([]), { POPPIN_OAUTH_INTROSPECTION_URL: "http://issuer.example/introspect" });
      expect(plainHttp.stderr).toContain("tcpserver: fatal: checkpassword: POPPIN_OAUTH_INTROSPECTION_URL must be an https:// URL");
      expect(plainHttp.code).toBe(111);
    });

    test("a program path that is not there (a typo, a checkpassword not installed): exit 111 naming it", async () => {
      const missing = join(tempDir("noprog"), "checkpassword");
      const noCheck = await startFails(mode, [applet("qmail-popup"), "pop.example.org", missing, applet("qmail-pop3d"), "Maildir"]);
      expect(noCheck.stderr).toContain(`tcpserver: fatal: qmail-popup: unable to run ${missing}: file does not exist\n`);
      expect(noCheck.code).toBe(111);
      expect(noCheck.portRefused).toBe(true);
      const noPop3d = await startFails(mode, [applet("qmail-popup"), "pop.example.org", applet("checkpassword"), "/nonexistent/qmail-pop3d", "Maildir"]);
      expect(noPop3d.stderr).toContain("tcpserver: fatal: checkpassword: unable to run /nonexistent/qmail-pop3d: file does not exist\n");
      expect(noPop3d.code).toBe(111);
      const noPopup = await startFails(mode, ["/nonexistent/qmail-popup", "pop.example.org", applet("checkpassword"), applet("qmail-pop3d"), "Maildir"]);
      expect(noPopup.stderr).toContain("tcpserver: fatal: unable to run /nonexistent/qmail-popup: file does not exist\n");
      expect(noPopup.code).toBe(111);
    });

    test("POPPIN_CONFIG names a file that cannot be read: exit 111 naming it", async () => {
      const r = await startFails(mode, chain([]), { POPPIN_CONFIG: "/nonexistent/poppin.conf" });
      expect(r.code).toBe(111);
      expect(r.stderr).toContain("unable to read config file /nonexistent/poppin.conf: file does not exist");
      expect(r.portRefused).toBe(true);
    });

    test("a bad popup flag: exit 111 naming it", async () => {
      const r = await startFails(mode, chain(["--auth-failure-delay=soon"]));
      expect(r.code).toBe(111);
      expect(r.stderr).toContain('qmail-popup: auth-failure-delay wants a number from 0 to 600, not "soon"');
      expect(r.portRefused).toBe(true);
    });

    test("an unreadable certificate or key: exit 111 naming the file", async () => {
      const cert = makeCertificate();
      const r = await startFails(mode, chain([`--tls-server-cert-file=${cert.cert}`, "--tls-private-key-file=/nonexistent/key.pem"]));
      expect(r.code).toBe(111);
      expect(r.stderr).toContain("/nonexistent/key.pem");
      expect(r.portRefused).toBe(true);
      const garbage = join(tempDir("cert"), "bad.pem");
      writeFileSync(garbage, "not a certificate\n");
      const g = await startFails(mode, chain([`--tls-server-cert-file=${garbage}`]));
      expect(g.code).toBe(111);
      expect(g.stderr).toContain(garbage);
    });

    test("the user database: missing cdb, a text file with a bad line (named), a mistyped --userdb", async () => {
      const missing = await startFails(mode, chain([]), { POPPIN_USERDB: "/nonexistent/users.cdb" });
      expect(missing.code).toBe(111);
      expect(missing.stderr).toContain("checkpassword: unable to read user database /nonexistent/users.cdb: file does not exist\n");
      expect(missing.portRefused).toBe(true);
      const text = join(tempDir("userdb"), "users");
      writeFileSync(text, "# users\njoe:$6$x$y:1000:1000:/home/joe\nbroken line\n");
      const bad = await startFails(mode, chain([], ["Maildir"], [`--userdb=${text}`]));
      expect(bad.code).toBe(111);
      expect(bad.stderr).toMatch(new RegExp(`checkpassword: ${text} line 3: `));
      expect(bad.portRefused).toBe(true);
      const typo = await startFails(mode, chain([], ["Maildir"], ["--userbd=/etc/users"]));
      expect(typo.code).toBe(111);
      expect(typo.stderr).toContain("checkpassword: unknown option --userbd=/etc/users (checkpassword takes only --userdb=FILE before its program)");
    });

    test("pop3d's arguments: a bad --compat and a missing Maildir name", async () => {
      const compat = await startFails(mode, chain([], ["--compat=bogus", "Maildir"]));
      expect(compat.code).toBe(111);
      expect(compat.stderr).toContain("qmail-pop3d: bad --compat=bogus: qmail or rfc");
      const none = await startFails(mode, chain([], []));
      expect(none.code).toBe(111);
      expect(none.stderr).toContain("qmail-pop3d: exactly one Maildir (or mbox:[spool]) is needed");
      expect(none.portRefused).toBe(true);
    });

    test("SIGHUP: a broken file keeps the old configuration (with a warning); a good one takes effect", async () => {
      const b = theBox();
      const conf = join(tempDir("conf"), "poppin.conf");
      writeFileSync(conf, "set clear-text-password = never\n");
      const s = await startPortServer([applet("tcpserver"), ...mode, "-1", "-v", "-HR", "127.0.0.1", "0", ...chain(["-f", conf])], {
        cwd: b.home,
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", POPPIN_USERDB: b.userdb },
      });
      try {
        const user = async () => (await talk(s.port, "USER demo\r\nQUIT\r\n")).toString("latin1");
        expect(await user()).toContain("-ERR [SYS/PERM] clear-text passwords are not accepted here");
        // A typo: popup alone would now answer every session with -ERR [SYS/TEMP].
        writeFileSync(conf, "set clear-text-password = always\nset typo-here = 1\n");
        s.proc.kill("SIGHUP");
        const deadline = Date.now() + 10_000;
        while (!s.log().includes("keeping the old configuration") && Date.now() < deadline) await Bun.sleep(50);
        expect(s.log()).toContain(`warning: SIGHUP: keeping the old configuration: qmail-popup: ${conf} line 2: unknown option "typo-here"`);
        expect(await user()).toContain("-ERR [SYS/PERM] clear-text passwords are not accepted here");
        writeFileSync(conf, "set clear-text-password = always\n");
        s.proc.kill("SIGHUP");
        while (!s.log().includes("configuration checked and in force") && Date.now() < deadline) await Bun.sleep(50);
        const after = await user();
        expect(after).toMatch(/^\+OK[^\r]*\r\n\+OK/);
      } finally {
        await s.stop();
      }
    });


    test("SIGHUP with POPPIN_CONFIG: pop3d behind checkpassword keeps the checked values too; a whole login works", async () => {
      const b = theBox();
      const conf = join(tempDir("conf"), "poppin.conf");
      writeFileSync(conf, "set timeout = 60\nset shy\n");
      const s = await startPortServer([applet("tcpserver"), ...mode, "-1", "-v", "-HR", "127.0.0.1", "0", ...chain([])], {
        cwd: b.home,
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", POPPIN_USERDB: b.userdb, POPPIN_CONFIG: conf, POPPIN_AUTH_FAILURE_DELAY: "0" },
      });
      try {
        writeFileSync(conf, "set timeout = 60\nset shy = perhaps\n");
        s.proc.kill("SIGHUP");
        const deadline = Date.now() + 10_000;
        while (!s.log().includes("keeping the old configuration") && Date.now() < deadline) await Bun.sleep(50);
        expect(s.log()).toContain(`${conf} line 2: shy wants true or false, not "perhaps"`);
        const out = (await talk(s.port, "CAPA\r\nUSER demo\r\nPASS tls s3cret\r\nSTAT\r\nQUIT\r\n")).toString("latin1");
        expect(out).toMatch(/\+OK \d+ \d+\r\n\+OK/); // STAT answered: neither popup nor pop3d read the broken file
        expect(out).not.toContain("IMPLEMENTATION"); // shy, from the checked file, still in force
        expect(out).not.toContain("-ERR");
      } finally {
        await s.stop();
      }
    });
  });
}

test("a foreign program is not checked: serve runs it as before", async () => {
  const s = await startPortServer([applet("tcpserver"), "-1", "-HR", "127.0.0.1", "0", "/bin/echo", "hello"], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", POPPIN_CONFIG: "/nonexistent/poppin.conf" },
  });
  try {
    expect((await talk(s.port, "")).toString()).toBe("hello\n");
  } finally {
    await s.stop();
  }
});
