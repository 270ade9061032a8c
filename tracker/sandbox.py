"""Parse and match feed bodies in worker processes with hard limits: nothing a feed sends runs
in the poller itself. Imports only the parser and the matcher, so workers start fast."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import multiprocessing.pool
import os
import signal
import sys
import threading
import types
from collections.abc import Iterator

from .matching import Cues, Found, Matcher, Rule
from .parse import ParsedFeed, parse_feed

PARALLEL_PARSE_MIN = 32  # feeds in a poll from which parsing takes more than one worker
PARSE_MEMORY = 1024 * 1024 * 1024  # address space of a parse worker (a 5 MB feed: 49 MB RSS)
PARSE_CPU_SECONDS = 30  # CPU one parse may take before the kernel stops its worker (SIGXCPU)
PARSE_TIMEOUT = 45.0  # wall clock; a worker stopped over its CPU never answers

Matches = dict[str, Found]  # entry key -> what the matcher found in it
# A worker process's own: its initializer compiles the rules into it once, for every parse.
_worker_matcher: Matcher | None = None


def follow_owners_sigterm(owner: int) -> None:
    """In a worker: end on a SIGTERM from `owner` (the process whose pool this worker is in:
    Pool.terminate), and only on one from it. The worker starts with SIGTERM blocked (see
    forkserver_init); a thread takes each SIGTERM and looks at its sender. One sent to the
    whole group or control group by a stop (systemd, a supervisor, `kill -- -PGID`) is left
    to the daemon, which ends its workers itself."""
    if not hasattr(signal, "sigwaitinfo"):
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # already, from the fork server

    def wait() -> None:
        while True:
            if signal.sigwaitinfo({signal.SIGTERM}).si_pid == owner:
                os._exit(128 + signal.SIGTERM)  # as the signal's default would, at once

    threading.Thread(target=wait, name="sigterm", daemon=True).start()


def _start_worker(rules: dict[str, Rule], cues: Cues, owner: int) -> None:
    """Bound the worker's memory, and compile the poll's rules once in it. Ctrl-C at a
    terminal reaches every process of the group, and a unit's stop may send SIGTERM to all
    of them: a worker leaves the stop to the daemon, which ends its workers itself (no
    traceback from each, and none killed while it holds the pool's queue lock, which would
    hold up the stop)."""
    global _worker_matcher
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    follow_owners_sigterm(owner)
    try:
        import resource
    except ImportError:  # not on Windows: the parse is still in its own process
        pass
    else:
        resource.setrlimit(resource.RLIMIT_AS, (PARSE_MEMORY, PARSE_MEMORY))
    _worker_matcher = Matcher(rules, cues)


def _parse_and_match(body: bytes, url: str) -> tuple[ParsedFeed, Matches]:
    """parse_feed, then match every entry, in a worker process, under a CPU limit."""
    try:
        import resource
    except ImportError:
        pass
    else:
        used = resource.getrusage(resource.RUSAGE_SELF)
        soft = int(used.ru_utime + used.ru_stime) + PARSE_CPU_SECONDS
        resource.setrlimit(resource.RLIMIT_CPU, (soft, resource.getrlimit(
            resource.RLIMIT_CPU)[1]))
    parsed = parse_feed(body, url=url)
    assert _worker_matcher is not None
    return parsed, {e.key: _worker_matcher.find(e.title, e.summary) for e in parsed.entries}


@contextlib.contextmanager
def _bare_main() -> Iterator[None]:
    """Start workers that do not import the program's main module.

    multiprocessing has each new worker import `__main__` again (the `tracker` script, so the
    whole CLI, the report stack with matplotlib among it): 0.8 s of CPU and 70 MB per worker,
    for nothing a parse needs. While the workers start, `__main__` is an empty module. A worker
    the pool starts later (one stopped over its CPU limit) imports it as before.
    """
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


class Parsers:
    """Worker processes that parse and match: nothing a feed sends runs in the poller itself.

    Each worker has a memory limit and each parse a CPU and a wall-clock limit, so no body
    (an entity bomb, a pathological regex) can exhaust the machine or hold up a stop: the
    workers are terminated as soon as the poll ends or is stopped. feedparser is pure Python:
    in threads it would also only take turns with the storing.
    """

    def __init__(self, feeds: int, rules: dict[str, Rule], cues: Cues) -> None:
        self.workers = 1 if feeds < PARALLEL_PARSE_MIN else max(min(os.cpu_count() or 1, 4), 1)
        self.rules = rules
        self.cues = cues
        self.pool: multiprocessing.pool.Pool | None = None

    async def parse(self, body: bytes, url: str) -> tuple[ParsedFeed, Matches]:
        """Parse and match one body in a worker; a body over its limits is a feed error."""
        if self.pool is None:
            # forkserver: never fork a process that runs threads (the daemon's scheduler,
            # ours); its workers start from a server that has imported the parser already.
            context = multiprocessing.get_context("forkserver")
            # razdel (the sentence splitter, imported on the first match) and the XML reader
            # are loaded once in the server, so the workers share those pages, not copy them;
            # with forkserver_init, a SIGTERM a stop sends to every process does not end the
            # fork server or its workers (the daemon ends them)
            context.set_forkserver_preload([__name__, "razdel", "defusedxml.expatreader",
                                            "tracker.forkserver_init"])
            with _bare_main():
                self.pool = context.Pool(self.workers, initializer=_start_worker,
                                         initargs=(self.rules, self.cues, os.getpid()))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[ParsedFeed, Matches]] = loop.create_future()

        def settle(value: object, error: BaseException | None) -> None:
            if not future.done():
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(value)  # type: ignore[arg-type]

        def answer(value: object, error: BaseException | None = None) -> None:
            with contextlib.suppress(RuntimeError):  # the poll is over and its loop closed
                loop.call_soon_threadsafe(settle, value, error)

        self.pool.apply_async(_parse_and_match, (body, url), callback=answer,
                              error_callback=lambda exc: answer(None, exc))
        try:
            return await asyncio.wait_for(future, PARSE_TIMEOUT)
        except TimeoutError:
            message = f"could not parse within {PARSE_TIMEOUT:g} s (or its CPU limit)"
        except MemoryError:
            message = "could not parse: over the parser's memory limit"
        return ParsedFeed([], None, None, message), {}

    def retire(self) -> None:
        """Take no more parses; the workers leave once those in flight are done."""
        if self.pool is not None:
            self.pool.close()

    def close(self) -> None:
        """Terminate the workers at once, whatever they are doing."""
        if self.pool is not None:
            self.pool.terminate()
            self.pool = None
