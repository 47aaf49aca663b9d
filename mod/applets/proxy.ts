import { createReadStream, createWriteStream, fstatSync } from "node:fs";
import type net from "node:net";
import type { Readable, Writable } from "node:stream";
import type { Applet } from "../cli/applet.ts";
import { fatal } from "../cli/context.ts";
import { EXIT_AUTH_FAILED, EXIT_OK, EXIT_TEMP, EXIT_USAGE, PoppinError } from "../base/errors.ts";
import { writeStderr } from "../base/io.ts";
import { AuthRefused, MalformedRequest, readRequestFd } from "../auth/request.ts";
import { proxyConfig } from "../proxy/config.ts";
import { proxyLogin, proxySessionLine, socketAddresses } from "../proxy/proxy_login.ts";
import { relaySession } from "../proxy/relay.ts";
import { RouteTable } from "../proxy/routes.ts";
import { nodeNet } from "../sys/builtins.ts";

const USAGE = "proxy [--backend-tls] ROUTES.cdb";

/** The client's side as popup hands it over: one socket on fds 0 and 1, or two pipes (after STLS). */
function clientSide(): { clientIn: Readable; clientOut: Writable } {
  let sameSocket = false;
  try {
    const a = fstatSync(0);
    const b = fstatSync(1);
    sameSocket = a.isSocket() && a.ino === b.ino && a.dev === b.dev;
  } catch {
    sameSocket = false;
  }
  if (sameSocket) {
    // Half-open: a client that closes its side after QUIT still gets the answers (as from pop3d).
    const sock = nodeNet().connect({ fd: 0, allowHalfOpen: true } as net.NetConnectOpts);
    return { clientIn: sock, clientOut: sock };
  }
  return { clientIn: createReadStream("", { fd: 0, autoClose: false }), clientOut: createWriteStream("", { fd: 1, autoClose: false }) };
}

/**
 * A checkpassword-compatible program for the proxy tier: `popup HOST proxy ROUTES.cdb`.
 * Exit 0 after a relayed session, 1 when the backend refused the login (or no route),
 * 111 when the backend could not be reached in time, 2 for misuse (checkpassword's codes).
 */
export const applet: Applet = {
  name: "proxy",
  summary: "log in at the user's backend (route table) and relay the session: runs where checkpassword runs",
  usage: USAGE,
  async run(args, ctx) {
    let backendTls = false;
    if (args[0] === "--backend-tls") {
      backendTls = true;
      args = args.slice(1);
    }
    if (args.length !== 1 || args[0] === "" || args[0]!.startsWith("-")) {
      writeStderr(`${ctx.prefix}: usage: poppin ${USAGE}\n`);
      return EXIT_USAGE;
    }
    const log = (line: string) => writeStderr(line);
    let raw: Uint8Array | undefined;
    try {
      const config = proxyConfig(ctx.env, backendTls);
      raw = readRequestFd(3);
      const startedAt = Date.now();
      const result = await proxyLogin(raw, ctx.env, { routes: new RouteTable(args[0]!), config, log, prefix: ctx.prefix, connectionAddresses: () => socketAddresses(0) });
      raw.fill(0);
      if (result.kind === "failed") return result.failure === "rejected" ? EXIT_AUTH_FAILED : EXIT_TEMP;
      const { clientIn, clientOut } = clientSide();
      clientIn.on("error", () => {});
      clientOut.on("error", () => {});
      clientOut.write(Buffer.from(result.reply));
      let flushed: Promise<void> = Promise.resolve();
      const stats = await relaySession({
        clientIn, clientOut, backend: result.socket, backendPending: result.leftover, idleTimeoutMs: config.idleTimeoutMs,
        // Everything written must reach the client before we exit (bounded: a client that reads nothing).
        closeClient: () => {
          flushed = new Promise<void>((resolve) => {
            if (clientOut.writableFinished || clientOut.destroyed) return resolve();
            const timer = setTimeout(resolve, 5_000);
            const done = () => { clearTimeout(timer); resolve(); };
            clientOut.once("finish", done);
            clientOut.once("close", done);
            if (!clientOut.writableEnded) clientOut.end();
          });
        },
      });
      await flushed;
      log(proxySessionLine(ctx.prefix, result.who, stats, startedAt, Date.now()));
      return EXIT_OK;
    } catch (err) {
      raw?.fill(0);
      if (err instanceof AuthRefused || err instanceof MalformedRequest) return err.exitCode;
      if (err instanceof PoppinError) {
        fatal(ctx, err.message);
        return err.exitCode;
      }
      throw err;
    }
  },
};
