"""GUI responsiveness: worst event-loop gap of the main window during a 24-image alignment.

Runs the GUI's own probe (``tests/gui/bench_event_loop.py``: a 10 ms QTimer
in the GUI thread while the controller's worker thread runs the whole
alignment, with tweakgui's default parallel detection, and while the
result is shown) offscreen, and records its figures.

Usage: python benchmarks/bench_gui.py [--images 24] [--size 2048]
"""

import argparse
import os
import re
import sys
from pathlib import Path

import _common as C

REPO = Path(__file__).resolve().parents[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--size", type=int, default=2048)
    args = ap.parse_args()
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    m = C.run_measured([sys.executable, str(REPO / "tests" / "gui" / "bench_event_loop.py"),
                        "--images", str(args.images), "--size", str(args.size)], env=env)
    out = m.pop("output")
    print(out)
    gap = re.search(r"worst (\d+) ms, 99th percentile (\d+) ms, median (\d+) ms", out)
    run = re.search(r"(\d+) aligned, ([\d.]+) s", out)
    shown = re.search(r"showing the result took (\d+) ms", out)
    res = {"machine": C.machine(), "images": args.images, "size": args.size, **m,
           "worst_gap_ms": int(gap.group(1)), "p99_gap_ms": int(gap.group(2)), "median_gap_ms": int(gap.group(3)),
           "aligned": int(run.group(1)), "run_s": float(run.group(2)),
           "show_result_ms": int(shown.group(1)) if shown else None}
    C.save(f"gui_{args.images}x{args.size}", res)


if __name__ == "__main__":
    main()
