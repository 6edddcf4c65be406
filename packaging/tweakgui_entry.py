"""Entry script of the frozen application: ``tweakgui`` as installed by pip."""

import multiprocessing
import sys

from tweakgui.cli import main

if __name__ == "__main__":
    # Worker processes of a frozen app re-run this script; freeze_support routes them.
    multiprocessing.freeze_support()
    sys.exit(main())
