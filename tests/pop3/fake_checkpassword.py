#!/usr/bin/env python3
# A checkpassword stand-in for popup tests (djb's interface): reads user\0password\0timestamp\0
# from fd 3; accepts joe/secret, or APOP joe with md5(timestamp + "apopsecret"); user "temp"
# exits 111, user "crash" dies by SIGSEGV; on success chdirs to $FAKE_HOME and execs the rest.
import hashlib, os, signal, sys
data = b""
while len(data) <= 512:
    chunk = os.read(3, 512)
    if not chunk:
        break
    data += chunk
parts = data.split(b"\0")
if len(parts) < 4:
    sys.exit(2)
user, password, timestamp = parts[0], parts[1], parts[2]
if os.environ.get("FAKE_LOG"):
    with open(os.environ["FAKE_LOG"], "ab") as f:
        f.write(data.hex().encode() + b"\n")
if user == b"temp":
    sys.exit(111)
if user == b"crash":
    os.kill(os.getpid(), signal.SIGSEGV)
apop = hashlib.md5(timestamp + b"apopsecret").hexdigest().encode()
if user != b"joe" or password not in (b"secret", apop):
    sys.exit(1)
os.chdir(os.environ["FAKE_HOME"])
os.environ["USER"] = "joe"
os.execvp(sys.argv[1], sys.argv[1:])
