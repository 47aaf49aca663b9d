/**
 * The hosts a conversation runs against, each with accounts of one kind: the matrix of
 * tests/session/modes.ts (classic chain, its separate processes, serve --inline; system and
 * virtual users) and the proxy tier (serve --inline ... popup HOST proxy ROUTES.cdb in front of
 * a --proxy backend). APOP cannot be relayed, so the proxy hosts run with APOP off and are
 * compared with a classic chain that has it off too; every host is compared with the classic
 * chain serving the same kind of user (SASL SCRAM needs a virtual user's keys).
 */
import { chmodSync, renameSync, rmSync } from "node:fs";
import { makeCertificate } from "../../../tests/tls/harness.ts";
import { join } from "node:path";
import { POPPIN, run, startPortServer, tempDir, type PortServer } from "../../../tests/helpers.ts";
import { makeMaildir } from "../../../tests/pop3/conversation.ts";
import { startDovecotHost, type DovecotHost } from "./dovecot.ts";
import { AccountPool, MATRIX, PASSWORD, type Account, type Combo, type Kind } from "../../../tests/session/modes.ts";

export interface Host {
  name: string;
  kind: Kind;
  /** The host whose transcripts this one's must equal (itself for a reference). */
  reference: string;
  port: number;
  accounts: Account[];
  /** Round-robin over the accounts: a session cut short may still hold the last one a moment. */
  next: number;
  servers: PortServer[];
  /** "exact": the transcript and the Maildir as the reference's; "meaning" (Dovecot): the +OK/-ERR sequence and the mail left. */
  compare: "exact" | "meaning";
}

const ACCOUNTS_PER_HOST = 4;
/** A certificate for every host (STLS offered everywhere); made once per campaign. */
function certificate(): Record<string, string> {
  const c = makeCertificate();
  chmodSync(c.key, 0o600);
  return { CERTFILE: c.cert, KEYFILE: c.key };
}

export class Hosts {
  readonly pool = new AccountPool("parity");
  readonly hosts: Host[] = [];

  /** Starts the hosts named in `only` (all when empty). */
  async start(only: string[] = [], withDovecot = false): Promise<void> {
    const tlsEnv = certificate();
    const NO_APOP = { POPPIN_APOP: "0", ...tlsEnv };
    const want = (name: string) => only.length === 0 || only.some((o) => name.includes(o)) || MATRIX.some((c) => c.name === name && c.mode === "classic");
    for (const combo of MATRIX) {
      if (!want(combo.name)) continue;
      const server = await this.pool.start(combo, { env: tlsEnv });
      this.#add(combo.name, combo.kind, `classic x ${combo.kind}`, server.port, [server]);
    }
    for (const kind of ["virtual", "system"] as Kind[]) {
      if (!want(`proxy x ${kind}`)) continue;
      const ref: Combo = { mode: "classic", kind, name: `classic-noapop x ${kind}` };
      const plain = await this.pool.start(ref, { env: NO_APOP });
      this.#add(ref.name, kind, ref.name, plain.port, [plain]);
      const backend = await this.pool.start(ref, { env: NO_APOP, serveFlags: ["--proxy", "--proxy-from", "127.0.0.0/8"] });
      // The proxy node under serve --inline, and (on virtual users' backend) as the classic chain's popup and proxy processes.
      for (const inline of kind === "virtual" ? [true, false] : [true]) {
        const proxy = await startPortServer([
          POPPIN, "serve", ...(inline ? ["--inline"] : []), "-v", "-R", "-H", "-1", "127.0.0.1", "0", POPPIN, "popup", "mail.example", POPPIN, "proxy", routes(backend.port),
        ], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", POPPIN_AUTH_FAILURE_DELAY: "0", ...NO_APOP } });
        this.pool.servers.push(proxy);
        this.#add(`${inline ? "proxy" : "proxy-classic"} x ${kind}`, kind, ref.name, proxy.port, [proxy, backend]);
      }
    }
    if (withDovecot) {
      const accounts = Array.from({ length: ACCOUNTS_PER_HOST }, () => this.pool.account("virtual", []));
      const dovecot = await startDovecotHost(accounts, PASSWORD);
      this.#dovecot = dovecot;
      this.hosts.push({ name: "dovecot x virtual", kind: "virtual", reference: "classic-noapop x virtual", port: dovecot.port, accounts, next: 0, servers: [], compare: "meaning" });
    }
  }

  #dovecot: DovecotHost | undefined;

  #add(name: string, kind: Kind, reference: string, port: number, servers: PortServer[]): void {
    const accounts = Array.from({ length: ACCOUNTS_PER_HOST }, () => this.pool.account(kind, []));
    this.hosts.push({ name, kind, reference, port, accounts, next: 0, servers, compare: "exact" });
  }

  /** The host's next account, its Maildir made anew with `messages` (the same file names, so the same UIDLs, everywhere). */
  account(host: Host, messages: Uint8Array[], places: string[] = []): Account {
    const acct = host.accounts[host.next++ % host.accounts.length]!;
    rmSync(acct.maildir, { recursive: true, force: true });
    const names = makeMaildir(acct.home, messages);
    names.forEach((name, i) => {
      const place = places[i] ?? "new";
      if (place !== "new") renameSync(join(acct.maildir, "new", name), join(acct.maildir, "cur", `${name}${place.slice(3)}`));
    });
    this.pool.chown(acct, acct.home);
    return acct;
  }

  /** What the host's servers logged beyond routine lines (the pool's filter), the last lines. */
  log(host: Host, lines = 30): string {
    const routine = /tcpserver: (status|pid|ok|end \d+ status 0$|done)|: (info|warning): (end=|login |mailbox in use|login delay|authorization failed)|^\s*$/;
    return host.servers.flatMap((s) => s.log().split("\n").filter((l) => !routine.test(l))).slice(-lines).join("\n");
  }

  async close(): Promise<void> {
    await this.#dovecot?.stop();
    await this.pool.close();
  }
}

function routes(port: number): string {
  const dir = tempDir("parity-routes");
  const cdb = join(dir, "routes.cdb");
  const r = run([POPPIN, "routes", "compile", cdb, join(dir, "routes.tmp")], { stdin: `*:127.0.0.1:${port}\n` });
  if (r.code !== 0) throw new Error(`routes compile: ${r.stderr}`);
  return cdb;
}

export { PASSWORD };
