import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { POPPIN, requireTool, run } from "../helpers.ts";
import { ownTempDirs } from "./temp.ts";

const tempDir = ownTempDirs();

const DRIVER = join(import.meta.dir, "fixtures", "drive_tty.py");

/** `poppin users ...` on a pseudo-terminal, typing `answers` at its prompts. */
function onTerminal(args: string[], answers: string[]) {
  return run([requireTool("python3"), DRIVER, POPPIN, "users", ...args], { stdin: answers.map((a) => `${a}\n`).join(""), timeoutMs: 20_000 });
}

describe("poppin users on a terminal", () => {
  test("prompts twice with echo off: the password never shows", () => {
    const file = join(tempDir("tty"), "users");
    const r = onTerminal(["-f", file, "add", "joe", "5000", "5000", "/h"], ["typed secret", "typed secret"]);
    expect(r.code).toBe(0);
    expect(r.out).toBe("password: \r\nagain: \r\n");
    expect(readFileSync(file, "utf8")).toStartWith("joe:$y$");
  });

  test("two different entries: refused, nothing written", () => {
    const file = join(tempDir("tty"), "users");
    const r = onTerminal(["-f", file, "add", "joe", "5000", "5000", "/h"], ["one", "two"]);
    expect(r.code).toBe(100);
    expect(r.out).toContain("poppin users: fatal: the two entries differ");
    expect(r.out).not.toContain("one");
    expect(existsSync(file)).toBe(false);
  });
});
