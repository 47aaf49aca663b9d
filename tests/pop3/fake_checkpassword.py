#!/usr/bin/env python3
# checkpassword stand-in: reads fd 3, accepts joe/secret, chdirs to $FAKE_HOME, execs the rest.
import os, sys
data = b""
while True:
    chunk = os.read(3, 512)
    if not chunk: break
    data += chunk
parts = data.split(b"\0")
if len(parts) < 4: sys.exit(2)
user, pw, ts = parts[0], parts[1], parts[2]
if os.environ.get("FAKE_LOG"):
    with open(os.environ["FAKE_LOG"], "ab") as f: f.write(data + b"\n")
if user != b"joe" or pw != b"secret": sys.exit(1)
os.chdir(os.environ["FAKE_HOME"])
os.execvp(sys.argv[1], sys.argv[1:])
