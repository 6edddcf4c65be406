"""``python -m tweakgui``: the command line (see :mod:`tweakgui.cli`)."""

from tweakgui.cli import main

# guarded: worker processes started by forkserver or spawn import this module again
if __name__ == "__main__":
    raise SystemExit(main())
