"""Imported only as the fork server's preload (see sandbox.Parsers), never by the daemon.

A stop that signals every process at once (systemd's default KillMode=control-group,
`kill -TERM -- -PGID`, a supervisor's stop-as-group) must not kill the fork server or a parse
worker under the daemon: a worker killed while it waits for a task holds the pool's queue lock
for good, and a dead fork server makes the pool take its live workers for dead and start more.
The daemon ends its workers itself when it stops, and the fork server leaves when the daemon
has gone (its pipe closes). So the fork server blocks SIGTERM here: it stays pending there,
harmless, and every worker forked from it starts with SIGTERM blocked, until
sandbox.follow_owners_sigterm decides, for each SIGTERM, who sent it.
"""

from __future__ import annotations

import signal

if hasattr(signal, "sigwaitinfo"):  # where a worker can tell who sent a signal (not macOS)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
