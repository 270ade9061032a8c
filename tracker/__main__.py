"""The `tracker` command and `python -m tracker`: the command-line interface, started fast."""

import gc


def run() -> None:
    """Start the CLI with the collector off while the modules load; the command then freezes
    what start-up made and turns it back on (tracker.cli.main): 50 ms of a 0.35 s `tracker
    show` (bench/cli.py), spent collecting objects that live as long as the process."""
    gc.disable()
    from tracker.cli import main

    main()


if __name__ == "__main__":
    run()
