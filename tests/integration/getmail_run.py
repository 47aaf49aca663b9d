"""Run Debian's getmail6 (6.18) with its wait for a delivery child made race-free.

getmail 6.18 forks a child for every delivery and only then installs its SIGCHLD handler; a
child that exits before the parent gets the CPU back is never seen, and getmail waits 60 s and
fails ("waiting child pid N timed out"; getmail6 issue #226, reported on 6.19.05; upstream
now waits on the child itself). On a loaded test machine that happens often enough to fail a
test. Here the parent waits for the child with waitpid(2), as upstream does now; the POP3 side
of getmail is untouched.

Usage: python3 getmail_run.py [getmail arguments...]
"""
import os
import runpy
import sys

from getmailcore import baseclasses
from getmailcore.exceptions import getmailOperationError


def _prepare_child(self):
    pass


def _wait_for_child(self, childpid):
    pid, status = os.waitpid(childpid, 0)
    if os.WIFSIGNALED(status):
        raise getmailOperationError('child pid %d killed by signal %d' % (pid, os.WTERMSIG(status)))
    if not os.WIFEXITED(status):
        raise getmailOperationError('child pid %d failed to exit' % pid)
    return os.WEXITSTATUS(status)


baseclasses.ForkingBase._prepare_child = _prepare_child
baseclasses.ForkingBase._wait_for_child = _wait_for_child
sys.argv = ['getmail'] + sys.argv[1:]
runpy.run_path('/usr/bin/getmail', run_name='__main__')
