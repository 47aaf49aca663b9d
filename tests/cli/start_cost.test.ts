/**
 * What every start of the binary loads. The classic chain starts a poppin process per
 * connection, so a Node built-in imported statically anywhere (every applet is in the one
 * bundle) is paid at every login: net, tls, crypto, child_process, dns, tty, zlib, stream
 * and util cost about 0.5-2 ms each on a 2-core machine. They are loaded on first use
 * (mod/sys/builtins.ts); this test bundles main.ts as `npm run build` does and lists the
 * built-ins the bundle imports at its top level.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = join(import.meta.dir, "..", "..");

/** Built-ins cheap enough to load at every start (measured: under 0.2 ms each, fs about 0.6 ms and needed by every applet). */
const CHEAP = new Set(["fs", "path", "os", "bun:ffi"]);

async function bundleText(): Promise<string> {
  const out = await Bun.build({ entrypoints: [join(ROOT, "main.ts")], target: "bun", format: "esm" });
  if (!out.success) throw new Error(out.logs.map(String).join("\n"));
  return await out.outputs[0]!.text();
}

describe("start cost", () => {
  test("the bundle imports no costly Node built-in at its top level", async () => {
    const text = await bundleText();
    const imported = new Set<string>();
    for (const m of text.matchAll(/^import\s[^;]*?\sfrom\s+"([^"]+)";?$/gm)) imported.add(m[1]!.replace(/^node:/, ""));
    expect(imported.has("fs")).toBe(true); // the pattern finds the imports that are there
    expect([...imported].filter((name) => !CHEAP.has(name)).sort()).toEqual([]);
  });
});

/** Files under mod/ that `from` reaches through static value imports (not `import type`, not `import()`). */
function staticallyReached(from: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/^\s*(import|export)\s+(?!type\s)[^;]*?\bfrom\s+"(\.{1,2}\/[^"]+)"/gm)) visit(resolve(dirname(file), m[2]!));
    for (const m of text.matchAll(/^\s*import\s+"(\.{1,2}\/[^"]+)"/gm)) visit(resolve(dirname(file), m[1]!));
  };
  visit(from);
  return seen;
}

describe("start cost: one applet per start", () => {
  test("main.ts reaches no applet module statically: each is loaded when it runs", () => {
    const reached = [...staticallyReached(join(ROOT, "main.ts"))].map((f) => relative(ROOT, f));
    expect(reached).toContain("mod/cli/applet_table.ts"); // the walk follows imports
    expect(reached.filter((f) => f.startsWith("mod/applets/"))).toEqual([]);
  });

  test("popup does not statically reach serve, the proxy, convert, conf, doctor or jose (loaded by the first bearer token)", () => {
    const files = [...staticallyReached(join(ROOT, "mod", "applets", "popup.ts"))];
    const reached = files.map((f) => relative(ROOT, f));
    expect(reached).toContain("mod/auth/authenticate.ts");
    expect(files.filter((f) => /^\s*import\s+(?!type\s)[^;]*?\bfrom\s+"jose"/m.test(readFileSync(f, "utf8"))).map((f) => relative(ROOT, f))).toEqual([]);
    expect(reached).toContain("mod/applets/pop3d.ts"); // one-process mode runs pop3d in popup
    expect(reached.filter((f) => /^mod\/(applets\/(serve|proxy|convert|conf|doctor|users)\.ts|proxy\/|convert\/|conf\/|doctor\/)/.test(f))).toEqual([]);
  });

  test("popup does not statically reach mod/tls or the chain spawner: a plain-text one-process login loads neither", () => {
    const reached = [...staticallyReached(join(ROOT, "mod", "applets", "popup.ts"))].map((f) => relative(ROOT, f));
    expect(reached).toContain("mod/pop3/fd_channel.ts"); // the walk follows imports
    expect(reached.filter((f) => f.startsWith("mod/tls/") || /^mod\/applets\/_(run_chain|run_chain_over_tls|popup_tls)\.ts$/.test(f))).toEqual([]);
    // ...and they are still there to load when TLS or a foreign chain is in play
    const lazy = [...staticallyReached(join(ROOT, "mod", "applets", "_popup_tls.ts"))].map((f) => relative(ROOT, f));
    expect(lazy).toEqual(expect.arrayContaining(["mod/tls/stdio_tls.ts", "mod/tls/channel_binding.ts", "mod/applets/_run_chain_over_tls.ts", "mod/applets/_run_chain.ts"]));
  });

  test("popup reaches of mod/mbox only the option parsing: the spool and its locks load with the first mbox session", () => {
    const reached = [...staticallyReached(join(ROOT, "mod", "applets", "popup.ts"))].map((f) => relative(ROOT, f));
    expect(reached).toContain("mod/session/mailbox_session.ts"); // the walk reaches pop3d's session
    expect(reached.filter((f) => f.startsWith("mod/mbox/")).sort()).toEqual(["mod/mbox/lock_names.ts", "mod/mbox/options.ts", "mod/mbox/spool_path.ts"]);
  });

  test("popup does not statically reach the OAuth code: it loads where OAuth is configured or a bearer token is checked", () => {
    const reached = [...staticallyReached(join(ROOT, "mod", "applets", "popup.ts"))].map((f) => relative(ROOT, f));
    expect(reached).toContain("mod/sasl/mechanisms.ts"); // the walk reaches the SASL mechanisms
    expect(reached.filter((f) => /^mod\/(auth\/(oauth|bearer_login)|sasl\/oauthbearer)\.ts$/.test(f))).toEqual([]);
  });

  // JavaScriptCore compiles a built-in from source at its first call in each process: Array.from
  // costs a start about 0.4 ms, find() and reduce() about 0.1 ms. Loops cost nothing to compile.
  test("nothing popup loads calls Array.from, and the applet lookup calls no find()", () => {
    const files = [...staticallyReached(join(ROOT, "mod", "applets", "popup.ts"))];
    expect(files.map((f) => relative(ROOT, f))).toContain("mod/maildir/order.ts"); // the walk reaches the Maildir scan
    expect(files.filter((f) => /(?<![\w.])Array\.from\(/.test(readFileSync(f, "utf8"))).map((f) => relative(ROOT, f))).toEqual([]);
    expect(readFileSync(join(ROOT, "mod", "cli", "applet_table.ts"), "utf8")).not.toMatch(/\.find\(/);
  });

  test("nothing popup or main.ts loads imports node:path: they use mod/base/posix_path.ts (node:path compiles from source, about 0.3 ms a start)", () => {
    const files = [...staticallyReached(join(ROOT, "mod", "applets", "popup.ts")), ...staticallyReached(join(ROOT, "main.ts"))];
    expect(files.map((f) => relative(ROOT, f))).toContain("mod/base/posix_path.ts"); // the walk reaches the replacement
    expect(files.filter((f) => /^\s*import\s[^;]*?\bfrom\s+"(node:)?path"/m.test(readFileSync(f, "utf8"))).map((f) => relative(ROOT, f))).toEqual([]);
  });

  test("nothing popup loads imports node:os: a session needs it only after a failure (errno names), through nodeOs()", () => {
    const files = [...staticallyReached(join(ROOT, "mod", "applets", "popup.ts")), ...staticallyReached(join(ROOT, "main.ts"))];
    expect(files.map((f) => relative(ROOT, f))).toContain("mod/sys/ffi.ts"); // the walk reaches the libc layer
    expect(files.filter((f) => /^\s*import\s[^;]*?\bfrom\s+"(node:)?os"/m.test(readFileSync(f, "utf8"))).map((f) => relative(ROOT, f))).toEqual([]);
  });

  test("popup does not statically reach the socket-address code: it loads only without TCPREMOTEIP (inetd, socket activation)", () => {
    const reached = [...staticallyReached(join(ROOT, "mod", "applets", "popup.ts"))].map((f) => relative(ROOT, f));
    expect(reached).toContain("mod/sys/ffi.ts"); // the walk reaches mod/sys
    expect(reached.filter((f) => f === "mod/sys/socket_name.ts" || f === "mod/serve/inherited_connection.ts")).toEqual([]);
    const lazy = [...staticallyReached(join(ROOT, "mod", "serve", "inherited_connection.ts"))].map((f) => relative(ROOT, f));
    expect(lazy).toContain("mod/sys/socket_name.ts");
  });
});
