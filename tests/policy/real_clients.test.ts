/**
 * Policies as real clients meet them, through serve + the classic chain with a virtual
 * user: clear-text-password=tls (curl refused in clear, served with --ssl-reqd), AUTH PLAIN
 * chosen by curl when CAPA offers it, [IN-USE] as fetchmail sees it, [LOGIN-DELAY] as
 * Python's poplib sees it, and auto-delete with mpop keeping mail on the server.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { requireTool, tempDir } from "../helpers.ts";
import { connectConversation } from "../pop3/conversation.ts";
import { PASSWORD, USER, boxCount, corpus, deliver, emptyBox, exec, makeBox, makeCertificate, startService, type Box, type Service } from "../tls/harness.ts";

let box: Box;
const services: Service[] = [];

beforeAll(() => {
  for (const tool of ["curl", "fetchmail", "mpop", "python3"]) requireTool(tool);
  box = makeBox();
});

afterAll(async () => {
  for (const s of services) await s.stop();
});

async function service(popupArgs: string[], env: Record<string, string> = {}): Promise<Service> {
  const s = await startService(box, { popupArgs, env });
  services.push(s);
  return s;
}

function fresh(n = 2): void {
  emptyBox(box);
  deliver(box, corpus().slice(0, n));
}

describe("policies through real clients", () => {
  test("clear-text-password=tls: curl in clear is refused before sending a password; with --ssl-reqd it is served (AUTH PLAIN)", async () => {
    fresh();
    const cert = makeCertificate();
    const s = await service(["--clear-text-password=tls"], { CERTFILE: cert.both });
    const clear = await exec(["curl", "-sS", "-v", "--max-time", "20", "--user", `${USER}:${PASSWORD}`, `pop3://127.0.0.1:${s.port}/1`]);
    expect(clear.code).not.toBe(0);
    expect(clear.err).not.toContain(PASSWORD);
    expect(clear.err).not.toMatch(/^> (PASS|AUTH PLAIN .)/m);
    const tls = await exec(["curl", "-sS", "-v", "--max-time", "20", "--ssl-reqd", "-k", "--user", `${USER}:${PASSWORD}`, `pop3://127.0.0.1:${s.port}/1`]);
    expect(tls.code).toBe(0);
    expect(tls.out).toContain("Subject: plain");
    expect(tls.err).toMatch(/^> AUTH PLAIN/m); // curl prefers SASL PLAIN, which CAPA offers after STLS
  });

  test("[IN-USE]: fetchmail meets a locked mailbox, reports it, and takes nothing; later it gets everything", async () => {
    fresh();
    const s = await service([]);
    const { talk, socket } = await connectConversation(s.port);
    await talk.waitFor("+OK");
    talk.send(`USER ${USER}\r\nPASS ${PASSWORD}\r\n`);
    await talk.waitFor("+OK \r\n+OK \r\n+OK \r\n");
    const work = tempDir("fetchmail-inuse");
    const out = join(work, "out");
    mkdirSync(out);
    const rc = join(work, "rc");
    writeFileSync(rc, [`poll 127.0.0.1 service ${s.port} protocol pop3 auth password`, `  user "${USER}" password "${PASSWORD}" sslproto ""`,
      `  mda "/bin/sh -c 'cat > ${out}/$$$$'"`, "  no keep fetchall", ""].join("\n"));
    chmodSync(rc, 0o600);
    const fetch = () => exec(["fetchmail", "--nodetach", "--norewrite", "--pidfile", join(work, "pid"), "-f", rc], { cwd: work, env: { FETCHMAILHOME: work } });
    const locked = await fetch();
    expect(locked.code).not.toBe(0);
    expect(locked.err).toMatch(/IN-USE|lock|busy/i);
    expect(boxCount(box)).toBe(2);
    socket.end("QUIT\r\n");
    await talk.waitEnd();
    const ok = await fetch();
    expect(ok.code).toBe(0);
    expect(boxCount(box)).toBe(0);
  });

  test("[LOGIN-DELAY]: poplib's second login within the delay fails with the response code; CAPA announces it", async () => {
    fresh(1);
    const s = await service(["--announce-login-delay=300"]);
    const script = `
import poplib
p = poplib.POP3("127.0.0.1", ${s.port}, timeout=20)
caps = p.capa()
p.user(${JSON.stringify(USER)}); p.pass_(${JSON.stringify(PASSWORD)}); p.quit()
try:
    q = poplib.POP3("127.0.0.1", ${s.port}, timeout=20)
    q.user(${JSON.stringify(USER)}); q.pass_(${JSON.stringify(PASSWORD)})
    print("second login accepted")
except poplib.error_proto as e:
    print(caps.get("LOGIN-DELAY"), e.args[0].decode())
`;
    const r = await exec(["python3", "-c", script]);
    expect(r.err).toBe("");
    expect(r.out).toMatch(/^\['300'\] -ERR \[LOGIN-DELAY\] wait \d+ more seconds before logging in again\n$/);
  });

  test("auto-delete: mpop with keep on still empties the mailbox (each RETR marks its message)", async () => {
    fresh();
    const s = await service(["--auto-delete"]);
    const work = tempDir("mpop-autodel");
    const md = join(work, "md");
    for (const sub of ["tmp", "new", "cur"]) mkdirSync(join(md, sub), { recursive: true });
    const rc = join(work, "mpoprc");
    writeFileSync(rc, ["account default", "host 127.0.0.1", `port ${s.port}`, "tls off", "auth user", `user ${USER}`, `password ${PASSWORD}`,
      `delivery maildir ${md}`, "keep on", "only_new off", `uidls_file ${join(work, "uidls")}`, ""].join("\n"));
    chmodSync(rc, 0o600);
    const r = await exec(["mpop", "-C", rc, "-q"], { cwd: work });
    expect(`${r.code} ${r.err}`).toBe("0 ");
    expect(boxCount(box)).toBe(0);
  });
});
