/**
 * The documented topology on loopback: Debian's HAProxy (send-proxy-v2, TCP health check)
 * in front of two proxy nodes (`serve [--inline] ... popup HOST proxy ROUTES.cdb`), in front
 * of two backends (`serve --proxy`) holding different users. Clients bind 127.0.0.5 so the
 * backends' logs can show that the real client address went through both hops. The same
 * cases run in two shapes: --inline proxy nodes before classic-chain backends with virtual
 * users, and classic proxy nodes (a process per connection) before `serve --inline` backends
 * run as root with system users (mail workers).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { ROOT, requireTool, tempDir, type PortServer } from "../helpers.ts";
import { canonical, curlFetch, fetchmailFetch, mpopFetch } from "../integration/clients.ts";
import { removeLocalUsers } from "../security/local_users.ts";
import { makeSystemUsers, makeUsers, poplibFrom, routesCdb, startBackend, startProxy, waitForLog, type Users } from "./topology.ts";

const QUICK = { POPPIN_AUTH_FAILURE_DELAY: "0" };
const CLIENT = "127.0.0.5";

/** Mail that real clients tend to get wrong: dots, 8-bit, CRLF, no final newline, a big one. */
function corpus(user: string): Buffer[] {
  const big = Array.from({ length: 3000 }, (_, i) => `line ${i} ${"x".repeat(60)}`).join("\n");
  return [
    `From: a@example.org\nSubject: for ${user}\n\nonly ${user} reads this\n`,
    "Subject: dots\n\n.\n..\n.leading dot\nend\n",
    "Subject: 8bit\n\ncaf\xe9 \xff\xfe \x80\n",
    "Subject: crlf\r\n\r\nalready CRLF\r\n",
    "Subject: no final newline\n\nlast line",
    `Subject: big\n\n${big}\n`,
  ].map((s) => Buffer.from(s, "latin1"));
}

/**
 * scripts/haproxy/haproxy.cfg made to run here: the plain-text frontend and its nodes on
 * loopback, health checks every 250 ms (a node is down after one failed check), no syslog.
 */
function haproxyConfig(port: number, nodes: number[]): string {
  const example = readFileSync(join(ROOT, "scripts/haproxy/haproxy.cfg"), "utf8");
  const sections = example.split(/\n(?=\S)/).filter((section) => !/^(frontend pop3s|backend pop3s_proxies)\b/.test(section));
  const cfg = sections.join("\n")
    .replace(/^\s*log .*\n/gm, "")
    .replace(/^\s*nbthread .*\n/gm, "")
    .replace(/maxconn \d+/, "maxconn 1000") // within this machine's descriptor limit
    .replace("bind :110", `bind 127.0.0.1:${port}`)
    .replace("inter 2s fall 2 rise 2", "inter 250ms fall 1 rise 1")
    .replace("server proxy1 10.0.1.1:110", `server proxy1 127.0.0.1:${nodes[0]}`)
    .replace("server proxy2 10.0.1.2:110", `server proxy2 127.0.0.4:${nodes[1]}`);
  expect(cfg).toContain(`server proxy2 127.0.0.4:${nodes[1]}`);
  expect(cfg).toContain("send-proxy-v2 check-send-proxy check inter 250ms");
  expect(cfg).not.toContain("bind :995");
  return cfg;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** A logged-in session kept open: STAT on demand, tells when the other side closed. */
class OpenSession {
  readonly sock: net.Socket;
  #text = "";
  closed = false;
  constructor(port: number) {
    this.sock = net.connect({ host: "127.0.0.1", port, localAddress: CLIENT });
    this.sock.on("data", (c: Buffer) => (this.#text += c.toString("latin1")));
    this.sock.on("close", () => (this.closed = true));
    this.sock.on("error", () => {});
  }
  async expect(pattern: RegExp, ms = 5000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!pattern.test(this.#text) && !this.closed && Date.now() < deadline) await Bun.sleep(20);
    return pattern.test(this.#text);
  }
  async login(user: string, password: string): Promise<void> {
    await this.expect(/^\+OK/);
    this.sock.write(`USER ${user}\r\nPASS ${password}\r\n`);
    if (!(await this.expect(/^\+OK[^\n]*\n\+OK[^\n]*\n\+OK[^\n]*\n/))) throw new Error(`login failed: ${this.#text}`);
  }
  async stat(): Promise<boolean> {
    const before = this.#text.length;
    this.sock.write("STAT\r\n");
    const deadline = Date.now() + 3000;
    while (!/\+OK \d+ \d+\r\n/.test(this.#text.slice(before)) && !this.closed && Date.now() < deadline) await Bun.sleep(20);
    return /\+OK \d+ \d+\r\n/.test(this.#text.slice(before));
  }
  get localPort(): number {
    return this.sock.localPort!;
  }
}

interface Shape {
  name: string;
  inlineNodes: boolean;
  inlineBackends: boolean;
  users: (users: Record<string, string>, messages: (user: string) => Uint8Array[]) => Users;
}
const SHAPES: Shape[] = [
  { name: "--inline proxy nodes, classic backends, virtual users", inlineNodes: true, inlineBackends: false, users: makeUsers },
  { name: "classic proxy nodes, --inline backends, system users", inlineNodes: false, inlineBackends: true, users: makeSystemUsers },
];
afterAll(removeLocalUsers);

for (const shape of SHAPES) describe(`HAProxy -> two proxy nodes -> two backends (${shape.name})`, () => {
  let usersA: Users;
  let usersB: Users;
  let backendA: PortServer;
  let backendB: PortServer;
  let backendBPort = 0;
  const nodes: PortServer[] = [];
  let haproxy: ReturnType<typeof Bun.spawn> | undefined;
  let front = 0;
  let routes = "";
  /** Each user's login (system accounts have a unique name). */
  let L: Record<string, string> = {};

  beforeAll(async () => {
    requireTool("haproxy");
    usersA = shape.users({ alice: "alice pw", carol: "carol pw", erin: "erin pw" }, corpus);
    usersB = shape.users({ bob: "bob pw", dave: "dave pw" }, corpus);
    L = { ...usersA.logins, ...usersB.logins };
    backendA = await startBackend("127.0.0.2", 0, usersA, QUICK, [], shape.inlineBackends);
    backendB = await startBackend("127.0.0.3", 0, usersB, QUICK, [], shape.inlineBackends);
    backendBPort = backendB.port;
    routes = routesCdb([
      `${L.alice}:127.0.0.2:${backendA.port}`, `${L.carol}:127.0.0.2:${backendA.port}`, `${L.erin}:127.0.0.2:${backendA.port}`,
      `${L.bob}:127.0.0.3:${backendB.port}`, `${L.dave}:127.0.0.3:${backendB.port}`, "",
    ].join("\n"));
    const proxyOpts = { inline: shape.inlineNodes, serveArgs: ["--proxy", "--proxy-from", "127.0.0.0/8"], env: QUICK };
    nodes.push(await startProxy("127.0.0.1", 0, routes, proxyOpts));
    nodes.push(await startProxy("127.0.0.4", 0, routes, proxyOpts));
    front = await freePort();
    const cfg = join(tempDir("haproxy"), "haproxy.cfg");
    writeFileSync(cfg, haproxyConfig(front, nodes.map((n) => n.port)));
    haproxy = Bun.spawn(["haproxy", "-db", "-f", cfg], { stdout: "ignore", stderr: "ignore", stdin: "ignore" });
    // Up once both nodes passed a health check: each node logs the check's QUIT session.
    for (const n of nodes) await waitForLog(n.log, "tcpserver: end", 5000);

  });

  afterAll(async () => {
    haproxy?.kill("SIGKILL");
    await haproxy?.exited;
    for (const s of [...nodes, backendA, backendB]) await s?.stop();
  });

  test("each user reaches their own mailbox; the backends log the client's own address; a wrong password is [AUTH]", async () => {
    const alice = await poplibFrom(CLIENT, front, L.alice!, "alice pw");
    expect(alice).toContain("only alice reads this");
    expect(alice).not.toContain("only bob");
    const bob = await poplibFrom(CLIENT, front, L.bob!, "bob pw");
    expect(bob).toContain("only bob reads this");
    await waitForLog(backendB.log, `user=${L.bob} rip=127.0.0.5`);
    expect(backendA.log()).toContain(`qmail-pop3d: info: end=quit user=${L.alice} rip=127.0.0.5`);
    expect(backendB.log()).toContain(`qmail-pop3d: info: end=quit user=${L.bob} rip=127.0.0.5`);
    expect(backendA.log()).not.toContain(`user=${L.bob}`);
    expect(await poplibFrom(CLIENT, front, L.alice!, "bob pw")).toBe("error: -ERR [AUTH] authorization failed\n");
    // the proxy nodes saw the client's address through HAProxy's header too
    expect(nodes.map((n) => n.log()).join("")).toMatch(new RegExp(`poppin proxy: info: end=\\S+ user=${L.alice} rip=127\\.0\\.0\\.5 backend=127\\.0\\.0\\.2:`));
  });

  test("a stopped backend costs only its own users [SYS/TEMP]; restarting it restores them", async () => {
    await backendB.stop();
    expect(await poplibFrom(CLIENT, front, L.bob!, "bob pw")).toStartWith("error: -ERR [SYS/TEMP]");
    expect(await poplibFrom(CLIENT, front, L.alice!, "alice pw")).toContain("only alice reads this");
    backendB = await startBackend("127.0.0.3", backendBPort, usersB, QUICK, [], shape.inlineBackends);
    expect(await poplibFrom(CLIENT, front, L.bob!, "bob pw")).toContain("only bob reads this");
  });

  // serve --inline holds its sessions in its one process: they end with it. A classic node's
  // sessions are processes of their own, which outlive serve as they outlive tcpserver.
  const killedSessions = shape.inlineNodes ? "costs only its own sessions" : "costs no session (each is a process of its own)";
  test(`a proxy node killed with -9 ${killedSessions}; HAProxy sends new ones to the other node`, async () => {
    const ends = (user: string) => [backendA, backendB].reduce((n, b) => n + b.log().split(`qmail-pop3d: info: end=`).filter((l) => l.includes(` user=${L[user]} `)).length, 0);
    const endsBefore = new Map(["alice", "bob", "carol", "dave"].map((u) => [u, ends(u)]));
    const sessions = [new OpenSession(front), new OpenSession(front), new OpenSession(front), new OpenSession(front)];
    // four users (a Maildir serves one session at a time): round robin puts two on each node
    for (const [i, user] of ["alice", "bob", "carol", "dave"].entries()) await sessions[i]!.login(L[user]!, `${user} pw`);
    const onNode = (s: OpenSession) => nodes.findIndex((n) => n.log().includes(`:${CLIENT}::${s.localPort}\n`));
    await Bun.sleep(100);
    const placed = sessions.map(onNode);
    expect(placed).toContain(0);
    expect(placed).toContain(1);
    nodes[0]!.proc.kill("SIGKILL");
    await nodes[0]!.proc.exited;
    for (const [i, s] of sessions.entries()) {
      if (placed[i] === 0 && shape.inlineNodes) {
        await s.expect(/$^/, 2000); // waits for the close
        expect(s.closed).toBe(true);
      } else {
        expect(await s.stat()).toBe(true);
      }
    }
    // New sessions all get served (erin: the one user of backend A with no session open, so
    // no [IN-USE] whichever node holds the others).
    for (let i = 0; i < 4; i++) expect(await poplibFrom(CLIENT, front, L.erin!, "erin pw")).toContain("only erin reads this");
    for (const s of sessions) s.sock.destroy();
    // The backends see the four sessions end and let their Maildirs go (the next test logs in as carol and dave).
    const deadline = Date.now() + 10_000;
    const allEnded = () => [...endsBefore].every(([u, n]) => ends(u) > n);
    while (!allEnded() && Date.now() < deadline) await Bun.sleep(25);
    expect(allEnded()).toBe(true);
  });

  test("fetchmail, mpop and curl through the whole path get every message byte-identical", async () => {
    const clients = [["carol", fetchmailFetch], ["dave", mpopFetch], ["erin", curlFetch]] as const;
    for (const [user, fetch] of clients) {
      const got = await fetch({ host: "127.0.0.1", port: front, user: L[user]!, password: `${user} pw` }, tempDir(user));
      expect(got.map(canonical).sort()).toEqual(corpus(user).map(canonical).sort());
      expect(await poplibFrom(CLIENT, front, L[user]!, `${user} pw`)).toBe(""); // all deleted on the backend
    }
  });
});
