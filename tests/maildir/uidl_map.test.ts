/** The UIDL map convert writes (poppin-uidls): read back by pop3d, never through a symbolic link. */
import { describe, expect, test } from "bun:test";
import { chownSync, linkSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers.ts";
import { appendUidlMap, readUidlMap, UIDL_MAP_NAME } from "../../mod/maildir/uidl_map.ts";

describe("poppin-uidls", () => {
  test("appended lines read back; a later line wins; a torn last line is ignored", () => {
    const dir = tempDir("uidl-map");
    appendUidlMap(dir, [["a", "one"], ["b", "two"]]);
    appendUidlMap(dir, [["a", "three"]]);
    writeFileSync(join(dir, UIDL_MAP_NAME), readFileSync(join(dir, UIDL_MAP_NAME), "latin1") + "c");
    expect([...readUidlMap(dir)]).toEqual([["a", "three"], ["b", "two"]]);
  });

  test("a hard-linked map (a backup made with cp -al) is read; a symbolic link or another user's file is refused", () => {
    const dir = tempDir("uidl-map-links");
    const backup = join(dir, "backup");
    mkdirSync(backup);
    appendUidlMap(dir, [["a", "one"]]);
    linkSync(join(dir, UIDL_MAP_NAME), join(backup, UIDL_MAP_NAME));
    expect(readUidlMap(backup).get("a")).toBe("one");
    // Appending through a second link is refused: a writer never extends a file linked elsewhere.
    expect(() => appendUidlMap(dir, [["b", "two"]])).toThrow("has 2 links");
    const linked = join(dir, "linked");
    mkdirSync(linked);
    symlinkSync(join(dir, UIDL_MAP_NAME), join(linked, UIDL_MAP_NAME));
    expect(() => readUidlMap(linked)).toThrow("is a symbolic link");
    expect(() => appendUidlMap(linked, [["x", "y"]])).toThrow("is a symbolic link");
    const theirs = join(dir, "theirs");
    mkdirSync(theirs);
    writeFileSync(join(theirs, UIDL_MAP_NAME), "a forged\n");
    chownSync(join(theirs, UIDL_MAP_NAME), 4242, 4242);
    expect(() => readUidlMap(theirs)).toThrow("belongs to uid 4242");
  });
});
