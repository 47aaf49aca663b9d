/**
 * serve --inline closes a finished session's connection at once only while the client has
 * little left to take. A client that pipelined RETR and QUIT and reads slowly, then sends a
 * line after QUIT (a broken client, a keep-alive NOOP), made the kernel reset a connection
 * closed at once, and the reset threw away the end of the message the kernel still held for
 * it: the client got a piece of the message, no terminating dot and no QUIT answer. Such a
 * connection is half-closed and read to its end instead, as before, and the client gets all.
 * (Where pop3d is a process of its own, the classic chain and --inline as root, it exits
 * after QUIT as qmail-pop3d does, and its close resets such a connection the same way.)
 */
import { afterAll, expect, test } from "bun:test";
import { AccountPool, MATRIX, PASSWORD } from "../session/modes.ts";

const pool = new AccountPool("inline-close-slow");
afterAll(() => pool.close());

const BODY_OCTETS = 3 * 1024 * 1024;
function bigMessage(): Uint8Array {
  const line = Buffer.from(`${"y".repeat(78)}\r\n`, "latin1");
  const body = Buffer.alloc(BODY_OCTETS);
  for (let at = 0; at < body.length; at += line.length) line.copy(body, at);
  return Buffer.concat([Buffer.from("Subject: big\r\n\r\n", "latin1"), body]);
}

/** A client with a small receive window that reads slowly, and sends a line one second after its pipelined QUIT. */
const SLOW_CLIENT = `
import socket, sys, time
port, user, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
s.connect(("127.0.0.1", port))
s.sendall(f"USER {user}\\r\\nPASS {pw}\\r\\nRETR 1\\r\\nQUIT\\r\\n".encode())
s.settimeout(20)
got, start, late, error = b"", time.time(), False, "none"
while True:
    time.sleep(0.002)
    if not late and time.time() - start > 1.0:
        late = True
        try:
            s.send(b"NOOP\\r\\n")
        except OSError as e:
            error = e.__class__.__name__
    try:
        data = s.recv(16384)
    except OSError as e:
        error = e.__class__.__name__
        break
    if not data:
        break
    got += data
whole = got.endswith(b"\\r\\n.\\r\\n+OK \\r\\n")
sys.stdout.write(f"{len(got)} {error} {whole}")
`;

const combo = MATRIX.find((c) => c.mode === "inline" && c.kind === "virtual")!;

test(`${combo.name}: a slow reader that sends a line after QUIT still gets the whole message, its dot and QUIT's +OK`, async () => {
  const server = await pool.start(combo);
  const acct = pool.account(combo.kind, [bigMessage()]);
  const client = Bun.spawn(["python3", "-c", SLOW_CLIENT, String(server.port), acct.login, PASSWORD], { stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(client.stdout).text(), new Response(client.stderr).text()]);
  await client.exited;
  expect(err).toBe("");
  const [octets, error, tail] = out.split(" ");
  expect(error).toBe("none"); // no ConnectionResetError
  expect(tail).toBe("True"); // ends with the message's dot and QUIT's +OK
  expect(Number(octets)).toBeGreaterThan(BODY_OCTETS);
}, 60_000);
