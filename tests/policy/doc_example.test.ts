/**
 * docs/configuration.md's example configuration file, copied as a newcomer copies it (only
 * /etc/ssl and /etc/poppin moved to a temporary directory, the files it names made as its
 * comments say): poppin config accepts it and reports each line it sets. It once set a
 * certificate without its key, which serve and config refuse.
 */
import { expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, ROOT, requireTool, run, tempDir } from "../helpers.ts";
import { OPTION_SPECS } from "../../mod/policy/options.ts";

test("the configuration file of docs/configuration.md works as written", () => {
  const page = readFileSync(join(ROOT, "docs", "configuration.md"), "utf8");
  const block = /## The configuration file \(Qpopper syntax\)\n\n```\n([\s\S]*?)```/.exec(page)?.[1];
  expect(block).toBeDefined();
  const dir = tempDir("docconf");
  requireTool("openssl");
  // The README's self-signed pair: pop.pem (certificate) and pop.key (key) apart.
  const made = run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=pop.example.org", "-keyout", join(dir, "pop.key"), "-out", join(dir, "pop.pem")]);
  expect(made.code).toBe(0);
  const text = block!.replaceAll("/etc/ssl/", `${dir}/`).replaceAll("/etc/poppin/", `${dir}/`);
  writeFileSync(join(dir, "pop3.conf"), text);
  writeFileSync(join(dir, "site.conf"), "# site settings\n");
  const r = run([POPPIN, "config", "-n", "popup", "-f", join(dir, "pop3.conf"), "pop.example.org", "checkpassword", "qmail-pop3d", "Maildir"]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expect(r.out).toContain(`popup.tls-server-cert-file = ${dir}/pop.pem`);
  expect(r.out).toMatch(/popup\.clear-text-password = tls +# .*pop3\.conf line 2\n/);
  expect(r.out).toMatch(/popup\.shy = 1 /);
  expect(r.out).toMatch(/popup\.statistics = 0 /);
  expect(r.out).toContain("popup.log-login = login %0 from %2");
});

test("poppin.conf(5): every option is listed, and its example works as written", () => {
  const page = readFileSync(join(ROOT, "docs", "man", "poppin.conf.5.scd"), "utf8");
  const options = page.split("\n# OPTIONS\n")[1]!.split("\n# ")[0]!;
  for (const spec of OPTION_SPECS) expect([spec.name, options.includes(spec.name)]).toEqual([spec.name, true]);
  const example = /# EXAMPLE\n\n```\n([\s\S]*?)```/.exec(page)![1]!;
  const dir = tempDir("conf5");
  expect(run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=pop.example.org", "-keyout", join(dir, "pop.key"), "-out", join(dir, "pop.pem")]).code).toBe(0);
  writeFileSync(join(dir, "pop3.conf"), example.replaceAll("/etc/ssl/", `${dir}/`));
  const r = run([POPPIN, "config", "-n", "popup", "-f", join(dir, "pop3.conf"), "pop.example.org", "checkpassword", "qmail-pop3d", "Maildir"]);
  expect([r.code, r.stderr]).toEqual([0, ""]);
});
