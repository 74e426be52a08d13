"""Preloaded by the fork server only (newsprep/run/engine/forkserver.py): ties the fork
server to the command that started it, so that a `kill -9` of the command ends it (and,
through their own binding, its workers). Nothing else imports this module."""

import os

from newsprep.lifeline import bind_to_parent

PARENT_VARIABLE = "NEWSPREP_FORKSERVER_PARENT"  # set by start_fork_server while it starts

if os.environ.get(PARENT_VARIABLE) == str(os.getppid()):
    bind_to_parent(os.getppid())
