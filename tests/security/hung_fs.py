"""A FUSE filesystem that never answers, for tests that play a local user whose Maildir hangs.

Mounted by that user (fusermount3 is setuid root) over a directory of theirs:
    python3 hung_fs.py MOUNTPOINT
or by root for everyone, as a home on an NFS server that stopped answering:
    python3 hung_fs.py MOUNTPOINT --allow-other UID GID
Its root's attributes are answered (an empty directory); every other request waits for ever.
It serves one request at a time (as a FUSE server stuck on a dead network does): once a first
request waits (`stat -f MOUNTPOINT`, which holds no directory lock in the kernel), every later
one, whoever makes it, stays queued in the kernel, where a signal can still end its caller. It
says "mounted" and "blocked WHAT" on stdout, one line each, so a test knows when each happened.
"""
import os
import stat
import sys
import threading

from fusepy import FUSE, Operations


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Hung(Operations):
    def init(self, path):
        say("mounted")

    def getattr(self, path, fh=None):
        if path == "/":
            return dict(st_mode=stat.S_IFDIR | 0o700, st_nlink=2, st_uid=OWNER[0], st_gid=OWNER[1])
        say("blocked " + path)
        threading.Event().wait()

    def __call__(self, op, *args):
        if op in ("init", "getattr", "destroy"):
            return super().__call__(op, *args)
        say("blocked " + op)
        threading.Event().wait()


# Attributes are never cached: every look at the mount is a request (none answered once one waits).
if sys.argv[2:3] == ["--allow-other"]:
    OWNER = (int(sys.argv[3]), int(sys.argv[4]))
    FUSE(Hung(), sys.argv[1], foreground=True, nothreads=True, nonempty=True, allow_other=True, attr_timeout=0, entry_timeout=0)
else:
    OWNER = (os.getuid(), os.getgid())
    FUSE(Hung(), sys.argv[1], foreground=True, nothreads=True, nonempty=True, attr_timeout=0, entry_timeout=0)
