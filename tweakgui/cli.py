"""Command line entry points (filled in by the engine work)."""

import sys

from tweakgui import __version__


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--version"]:
        print(f"tweakgui {__version__}")
        return 0
    return 2
