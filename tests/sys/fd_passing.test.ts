/**
 * Descriptor passing through bun:ffi (sendmsg/recvmsg with SCM_RIGHTS, packed by hand):
 * a descriptor sent over a socket pair arrives as a new descriptor for the same open file,
 * close-on-exec; a message without one says so; record boundaries hold on SOCK_SEQPACKET;
 * extra descriptors a peer sends are closed, not leaked; a closed peer reads as 0 octets.
 */
import { describe, expect, test } from "bun:test";
import { closeSync, fstatSync, openSync, readFileSync, readdirSync, readlinkSync, readSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { ptr } from "bun:ffi";
import { SOCK_SEQPACKET, SOCK_STREAM, closeDescriptor, receiveWithDescriptor, sendWithDescriptor, socketPair } from "../../mod/sys/fd_passing.ts";
import { tempDir } from "../helpers.ts";

/** This process's descriptors open on PATH (the test runner opens and closes its own
 * descriptors meanwhile, so counting all of them is not a leak check). */
const fdsOn = (path: string) =>
  readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === path;
    } catch {
      return false;
    }
  });

describe("fd passing", () => {
  test("a file descriptor sent with a message arrives for the same open file, close-on-exec", () => {
    const [a, b] = socketPair(SOCK_SEQPACKET);
    const file = join(tempDir("fdpass"), "f");
    writeFileSync(file, "through the socket\n");
    const fd = openSync(file, "r");
    expect(sendWithDescriptor(a, Buffer.from("hello"), fd)).toBe(5);
    const buf = new Uint8Array(64);
    const got = receiveWithDescriptor(b, buf);
    expect(Buffer.from(buf.subarray(0, got.length)).toString()).toBe("hello");
    expect(got.fd).toBeDefined();
    expect(got.fd).not.toBe(fd);
    expect(fstatSync(got.fd!).ino).toBe(fstatSync(fd).ino);
    const text = Buffer.alloc(64);
    expect(text.subarray(0, readSync(got.fd!, text, 0, 64, 0)).toString()).toBe("through the socket\n");
    // MSG_CMSG_CLOEXEC: a child would not inherit it.
    const flags = parseInt(/^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${got.fd}`, "latin1"))![1]!, 8);
    expect(flags & 0o2000000).toBe(0o2000000);
    closeSync(fd);
    closeDescriptor(got.fd!);
    closeDescriptor(a);
    closeDescriptor(b);
  });

  test("records keep their bounds; a message without a descriptor has none; a closed peer reads 0", () => {
    const [a, b] = socketPair(SOCK_SEQPACKET);
    sendWithDescriptor(a, Buffer.from("one"), undefined);
    writeSync(a, "two");
    const buf = new Uint8Array(64);
    const first = receiveWithDescriptor(b, buf);
    expect(first).toEqual({ length: 3, fd: undefined });
    expect(Buffer.from(buf.subarray(0, 3)).toString()).toBe("one");
    expect(receiveWithDescriptor(b, buf).length).toBe(3);
    closeDescriptor(a);
    expect(receiveWithDescriptor(b, buf)).toEqual({ length: 0, fd: undefined });
    closeDescriptor(b);
    expect(() => sendWithDescriptor(b, Buffer.from("x"), undefined)).toThrow(/EBADF/);
  });

  test("extra descriptors from a peer are closed, not leaked; a socket pair of the stream kind carries one too", () => {
    const [a, b] = socketPair(SOCK_STREAM);
    const target = join(tempDir("fdpass-extra"), "passed");
    writeFileSync(target, "");
    // A hand-packed message with three descriptors (a hostile peer).
    const f1 = openSync(target, "r");
    const f2 = openSync(target, "r");
    const f3 = openSync(target, "r");
    const control = new Uint8Array(16 + 16);
    const cv = new DataView(control.buffer);
    cv.setBigUint64(0, BigInt(16 + 12), true);
    cv.setInt32(8, 1, true);
    cv.setInt32(12, 1, true);
    cv.setInt32(16, f1, true);
    cv.setInt32(20, f2, true);
    cv.setInt32(24, f3, true);
    const data = Buffer.from("x");
    const iov = new Uint8Array(16);
    new DataView(iov.buffer).setBigUint64(0, BigInt(ptr(data)), true);
    new DataView(iov.buffer).setBigUint64(8, 1n, true);
    const msg = new Uint8Array(56);
    const mv = new DataView(msg.buffer);
    mv.setBigUint64(16, BigInt(ptr(iov)), true);
    mv.setBigUint64(24, 1n, true);
    mv.setBigUint64(32, BigInt(ptr(control)), true);
    mv.setBigUint64(40, BigInt(control.length), true);
    const { dlopen } = require("bun:ffi") as typeof import("bun:ffi");
    const libc = dlopen("libc.so.6", { sendmsg: { args: ["i32", "ptr", "i32"], returns: "i64" } });
    expect(Number(libc.symbols.sendmsg(a, msg, 0))).toBe(1);
    for (const f of [f1, f2, f3]) closeSync(f);
    expect(fdsOn(target)).toEqual([]);
    const got = receiveWithDescriptor(b, new Uint8Array(8));
    expect(got.length).toBe(1);
    expect(got.fd).toBeDefined();
    // The first arrives as got.fd; the other two were closed by the receiver.
    expect(fdsOn(target)).toEqual([String(got.fd)]);
    closeDescriptor(got.fd!);
    expect(fdsOn(target)).toEqual([]);
    closeDescriptor(a);
    closeDescriptor(b);
  });
});
