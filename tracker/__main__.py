"""The `tracker` command and `python -m tracker`: the command-line interface, started fast."""

import gc
import sys


def run() -> None:
    """Start the CLI with the collector off while the modules load; the command then freezes
    what start-up made and turns it back on (tracker.cli.main): 50 ms of a 0.35 s `tracker
    show` (bench/cli.py), spent collecting objects that live as long as the process."""
    gc.disable()
    if "daemon" in sys.argv[1:]:
        # A SIGHUP while the daemon imports and starts (`systemctl restart` then `reload`)
        # would end it by the signal's default action, a clean stop to systemd: kept instead.
        import signal

        import tracker

        signal.signal(signal.SIGHUP,
                      lambda signum, _frame: tracker.STARTING_SIGHUPS.append(signum))
    from tracker.cli import main

    main()


if __name__ == "__main__":
    run()
