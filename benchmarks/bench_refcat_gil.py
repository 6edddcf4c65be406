"""Worst interval of a 10-ms Python ticker thread while load_refcat reads a big catalog in the main thread:
how long the read holds the GIL (run bench_refcat.py first; argument: a file name under the bench dir)."""
import sys, threading, time
from tweakgui.engine.params.spec import TweakRegParams
from tweakgui.engine.visit import load_visit
from tweakgui.engine.refcat.load import load_refcat
B = "/tmp/tweakgui-bench/"
params = TweakRegParams(abs_refcat=B + sys.argv[1])
visit = load_visit(["@" + B + "visit_4x1024_s11/images.lst"], params)
gaps, stop = [], threading.Event()
def tick():
    last = time.perf_counter()
    while not stop.is_set():
        time.sleep(0.01); now = time.perf_counter(); gaps.append(now - last); last = now
th = threading.Thread(target=tick); th.start()
time.sleep(0.5); idle = max(gaps); gaps.clear()
t0 = time.perf_counter(); load_refcat(visit, params); w = time.perf_counter() - t0
stop.set(); th.join()
print(sys.argv[1], f"load {w:.2f} s; worst 10-ms tick interval while loading {max(gaps)*1e3:.0f} ms (idle {idle*1e3:.0f} ms), 99% {sorted(gaps)[int(.99*len(gaps))]*1e3:.0f} ms")
