"""Command line: ``tweakgui`` (GUI) and ``tweakgui align|restore|apply-wcs`` (headless).

Exit status of ``align``: 0 all images aligned; 1 some images FAILED (the
report says which and why); 2 the run could not start (one line on stderr
naming the file or parameter, nothing written).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import sys
import tempfile
import traceback
import warnings
from pathlib import Path

from tweakgui import __version__

log = logging.getLogger("tweakgui")

COMMANDS = ("align", "restore", "apply-wcs")


class UsageError(Exception):
    """Bad command-line usage (exit 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        if message.startswith("unrecognized arguments:"):
            opt = message.split(":", 1)[1].split()[0]
            if opt.startswith("-"):
                message = f"unknown parameter or option '{opt}' (see --help for the list)"
        raise UsageError(message)


def _param_help() -> str:
    from tweakgui.engine.params.spec import GROUPS, SPEC

    lines = ["parameters (TweakRegStep names; --<name> VALUE):"]
    for g in GROUPS:
        lines.append(f"  [{g}]")
        for s in SPEC:
            if s.group == g:
                choices = f" {{{','.join(map(str, s.choices))}}}" if s.choices else ""
                lines.append(f"    --{s.name:<24} {s.doc} (default: {s.default!r}){choices}")
    return "\n".join(lines)


def _align_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="tweakgui align",
        description="Align the images of a visit to each other and to a reference catalog (headless).",
        epilog=_param_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="*", metavar="INPUT",
                   help="FITS/cal file, wildcard, comma list, @list.txt or ASN json; a catalog named "
                        ".ecsv/.cat/.csv/.xml or a FITS table is a catalog input")
    p.add_argument("--catalogs", action="append", default=[], metavar="SPEC",
                   help="catalog inputs: source catalogs (x, y) with a WCS and no pixels, as a file, "
                        "comma list, wildcard or @list (see docs/catalog-only.md)")
    p.add_argument("--wcs", action="append", default=[], metavar="SPEC",
                   help="one WCS file per --catalogs catalog, in the same order (FITS header, "
                        "text .hdr or GWCS .asdf), instead of the catalog's metadata or sidecar")
    p.add_argument("--config", help="parameter file: stpipe ASDF pars or INI cfg")
    p.add_argument("--section", help="cfg section (visit) to use when the cfg has several")
    p.add_argument("--output_dir", default=".", help="where outputs go (default: current directory)")
    p.add_argument("--report", help="report path (default: <output_dir>/tweakreg_report.json)")
    p.add_argument("--in_place", action="store_true", help="update the input files (old WCS archived)")
    p.add_argument("--jobs", type=int, default=None,
                   help="processes for detection, the fits of many groups and many WCS files (default: all cores)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="detect on a Dask cluster: a scheduler address (tcp://host:8786) or 'local' "
                        "(needs the dask extra; workers must see the input files)")
    p.add_argument("--log", help="also write the log to this file")
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


class _ConsoleFilter(logging.Filter):
    """On the terminal: tweakgui's warnings, other libraries' errors only (all with --debug).

    Libraries' warnings repeat what the FAILED line says (tweakwcs) or are
    harmless (astropy's header fixes); they still go to ``--log``.
    """

    def __init__(self, debug: bool):
        super().__init__()
        self.debug = debug

    def filter(self, record):
        return self.debug or record.name.startswith("tweakgui") or record.levelno >= logging.ERROR


def _setup_logging(debug: bool, logfile: str | None, quiet: bool) -> list[logging.Handler]:
    """Add the handlers of one command; returns them for :func:`_remove_logging`."""
    root = logging.getLogger()
    handlers: list[logging.Handler] = []
    previous = root.level
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    h = logging.StreamHandler(sys.stderr)
    h.setLevel(logging.DEBUG if debug else logging.WARNING)
    h.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    h.addFilter(_ConsoleFilter(debug))
    root.addHandler(h)
    handlers.append(h)
    if logfile:
        try:
            fh = logging.FileHandler(logfile)
        except OSError as e:
            _remove_logging(handlers, previous)
            raise UsageError(f"--log {logfile}: cannot write: {e.strerror or e}") from None
        fh.setLevel(logging.DEBUG if debug else logging.INFO)
        fh.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
        root.addHandler(fh)
        handlers.append(fh)
    for noisy in ("tweakwcs", "stpipe", "asdf"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if debug else logging.WARNING)
    del quiet
    h.previous_root_level = previous
    return handlers


def _remove_logging(handlers, previous=None) -> None:
    # in-process callers (tests, the GUI's headless demo) run several commands
    root = logging.getLogger()
    for h in handlers:
        root.removeHandler(h)
        h.close()
    if previous is None and handlers:
        previous = getattr(handlers[0], "previous_root_level", None)
    if previous is not None:
        root.setLevel(previous)


def _warning_to_log(message, category, filename, lineno, file=None, line=None):
    logging.getLogger("py.warnings").warning("%s: %s", category.__name__, str(message).splitlines()[0]
                                             if str(message) else "")


def _progress_printer(stream):
    """Progress per image: a bar redrawn in place on a terminal, one line per image otherwise."""
    tty = stream.isatty()

    def progress(stage, done, total, message):
        if stage == "detect":
            if tty:
                width = 30
                fill = int(width * done / max(total, 1))
                label = f"detecting sources in {message}" if done < total else "sources detected"
                stream.write(f"\r[{'#' * fill}{'.' * (width - fill)}] {done}/{total} {label[:60]:60s}")
                if done >= total:
                    stream.write("\n")
                stream.flush()
            elif done < total:
                print(f"[{done + 1}/{total}] detecting sources in {message}", file=stream, flush=True)
        elif stage in ("relative", "absolute") and done == 0:
            print(f"{stage} alignment: {message}", file=stream, flush=True)

    return progress


def _stage_text(f, image: str) -> str:
    """One stage as the image sees it: its own matches, rmse and the fit's verdict."""
    tag = "rel" if f.kind == "relative" else "abs"
    if f.status == "REFERENCE":
        return f"{tag}: reference"
    own = f.image_numbers(image)
    if f.status != "SUCCESS":
        return f"{tag}: FAILED"
    return (f"{tag}: {own['nused']}/{own['nmatch']} used, rmse {own['rmse_arcsec'] * 1000:.2f} mas, "
            f"{f.significance:.0f}σ over chance")


def _summary(result, stream):
    for r in result.images:
        line = f"{r.exposure.name:40s} {r.status:9s}"
        c = r.correction
        if c is not None and r.status == "SUCCESS":
            line += (f" shift=({c.shift_arcsec[0]:+.4f}\",{c.shift_arcsec[1]:+.4f}\") E,N"
                     f" rot={c.rotation_deg:+.5f}° scale={c.scale:.7f}")
        if r.fits:
            line += "  [" + "; ".join(_stage_text(f, r.exposure.name) for f in r.fits) + "]"
        if r.reason:
            line += f"  {r.reason}"
        print(line, file=stream)


def align_main(argv, cancel=None) -> int:
    from tweakgui.engine.params import files as paramfiles

    overrides, rest = paramfiles.parse_cli_overrides(argv)
    args = _align_parser().parse_args(rest)
    if not args.inputs and not args.catalogs:
        raise UsageError("no inputs: give images (INPUT ...) or catalogs (--catalogs ...)")
    if args.wcs and not args.catalogs:
        raise UsageError("--wcs pairs WCS files with the catalogs of --catalogs; no --catalogs given")
    if args.log:  # opened (for appending) before the inputs are read: checked first
        _check_log_path(args)
    handlers = _setup_logging(args.debug, args.log, args.quiet)
    try:
        with warnings.catch_warnings():
            # library warnings go to the log (and to the terminal with --debug), never raw to stderr
            warnings.showwarning = _warning_to_log
            with _batch_collector():
                return _align(args, overrides, cancel)
    finally:
        _remove_logging(handlers)


@contextlib.contextmanager
def _batch_collector():
    """The cyclic garbage collector tuned for one run, as it was afterwards (tests run commands in-process).

    A run keeps what it reads and computes to the end, mostly without cycles: the default
    thresholds walked a mosaic's millions of objects in ~20 full collections (6 of the
    command's 16 s of CPU for the 690 CEERS images); young collections every 50,000
    allocations leave a few young and no full collections.  The visit is frozen once read.
    """
    before = gc.get_threshold()
    gc.set_threshold(50_000, 20, 20)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


def _align(args, overrides, cancel=None) -> int:
    from tweakgui.engine import pipeline
    from tweakgui.engine.io.atomic import check_writable_dir
    from tweakgui.engine.outputs import save
    from tweakgui.engine.params import files as paramfiles
    from tweakgui.engine.visit import load_visit

    if args.config:
        _check_regular_input(args.config, "--config")
    params = paramfiles.resolve_params(args.config, args.section, overrides)
    _check_params(params)
    out = Path(args.output_dir)
    if not args.in_place or args.report:
        _check_output_dir(out, check_writable_dir)
    if args.report:
        _check_output_dir(Path(args.report).parent, check_writable_dir, what="--report")
    visit = load_visit(args.inputs, params, catalogs=args.catalogs, wcs=args.wcs, jobs=_jobs_or_default(args.jobs))
    from tweakgui.engine.params.limits import check_limits

    check_limits(params, visit)
    _check_paths(args, params, visit, out)
    _check_archivable(visit)
    if args.in_place:
        _check_in_place_owner(visit)
    progress = None if args.quiet or not sys.stderr.isatty() else _progress_printer(sys.stderr)
    if not args.quiet and not sys.stderr.isatty():
        progress = _progress_printer(sys.stdout)
    kw = _jobs_kw(args.jobs, args.scheduler)
    # the visit lives until the end: no full collection walks it again, and the worker processes
    # forked later inherit it frozen
    gc.freeze()
    result = pipeline.run(visit, params, progress=progress, cancel=cancel, **kw)
    save.save_visit_outputs(result, out, params, in_place=args.in_place, report_path=args.report,
                            cancel=cancel, jobs=_jobs_or_default(args.jobs))
    _summary(result, sys.stdout)
    if result.report_path:
        print(f"report: {result.report_path}")
    for r in result.images:
        if r.status == "FAILED":
            reason = (r.reason or "no reason given").splitlines()[0]
            print(f"tweakgui: {r.exposure.path}: FAILED: {reason}", file=sys.stderr)
    return 1 if result.n_failed else 0


def _jobs_or_default(jobs) -> int:
    from tweakgui.engine.processes import default_jobs

    return default_jobs() if jobs is None else jobs


def _input_files(args, params, visit=None) -> list[tuple[Path, str]]:
    """Every file the run reads, for the aliasing check."""
    files: list[tuple[Path, str]] = []
    if visit is not None:
        for e in visit.exposures:
            files.append((Path(e.path), "input"))
            if e.meta.get("wcs_file"):
                files.append((Path(e.meta["wcs_file"]), "WCS file of a catalog input"))
            for c in e.chips:
                if c.catalog_path is not None:
                    files.append((Path(c.catalog_path), "custom catalog"))
    for name, what in ((args.config, "parameter file"), (getattr(params, "catfile", ""), "catfile"),
                       (getattr(params, "abs_refcat", ""), "reference catalog"),
                       (getattr(params, "exclusions", ""), "exclusions file")):
        if name and Path(str(name)).is_file():
            files.append((Path(str(name)), what))
    if getattr(args, "wcs", None):
        from tweakgui.engine.io.catalogs import expand_wcs_files

        files += [(p, "--wcs file") for p in expand_wcs_files(args.wcs)]
    for spec in [*args.inputs, *getattr(args, "catalogs", [])]:
        spec = str(spec)
        if spec.startswith("@"):
            files.append((Path(spec[1:]), "list file"))
        elif spec.lower().endswith(".json"):
            files.append((Path(spec), "association"))
    return files


def _check_log_path(args) -> None:
    from tweakgui.engine.io.inputs import expand_inputs
    from tweakgui.engine.outputs.save import check_output_paths

    class _P:  # parameters are not resolved yet: the input images and lists suffice here
        pass

    files = [(it.path, "input") for it in expand_inputs(args.inputs, args.catalogs)]
    files += _input_files(args, _P())
    if args.report:
        files.append((Path(args.report), "report"))
    check_output_paths([(Path(args.log), "log file", None)], files)
    import os
    import stat

    try:
        mode = os.stat(args.log).st_mode
    except OSError:
        return
    # a FIFO would block the open until someone reads it; /dev/null is fine
    if stat.S_ISFIFO(mode) or stat.S_ISDIR(mode) or stat.S_ISSOCK(mode):
        raise UsageError(f"--log {args.log}: not a regular file (a directory, FIFO or socket)")


def _check_paths(args, params, visit, out: Path) -> None:
    # before anything runs: no output may be an input (symlinks and hard links included)
    # nor another output of the same run
    from tweakgui.engine.outputs.save import check_output_paths, planned_outputs

    planned = planned_outputs(visit.exposures, out, params, in_place=args.in_place, report_path=args.report)
    if args.log:
        planned.append((Path(args.log), "log file", None))
    check_output_paths(planned, _input_files(args, params, visit))


def _check_in_place_owner(visit) -> None:
    # a replaced file must keep its owner: only its owner (or root) can give it that
    import os

    if not hasattr(os, "geteuid") or os.geteuid() == 0:
        return
    groups = {os.getegid(), *os.getgroups()}
    for e in visit.exposures:
        if not e.has_pixels:  # a catalog input is never rewritten
            continue
        st = os.stat(e.path)
        if st.st_uid != os.geteuid() or st.st_gid not in groups:
            who = "owner" if st.st_uid != os.geteuid() else "group"
            raise UsageError(f"{e.path}: owned by uid {st.st_uid} gid {st.st_gid}; --in_place would change "
                             f"its {who} (run as that user, or write copies with --output_dir)")


def _check_archivable(visit) -> None:
    # every written image archives its WCS under a free letter: found out now, not after the fit
    from astropy.io import fits

    from tweakgui.engine.outputs.history import LETTERS, same_wcs, wcs_keys_in_use

    for e in visit.exposures:
        if e.kind != "fits" or not e.has_pixels:
            continue
        with fits.open(e.path, memmap=True) as h:
            headers = [h[c.hdu].header for c in e.chips]
            used = set().union(*(wcs_keys_in_use(x) for x in headers))
            # an identical archived copy is reused, no letter needed
            again = any(all(same_wcs(x, k) for x in headers) for k in used)
        if not again and not [k for k in LETTERS if k not in used]:
            raise UsageError(f"{e.path}: all 26 alternate WCS letters are in use; the current WCS "
                             "could not be archived (free one with stwcs or astropy first)")


def _check_regular_input(path, what: str) -> None:
    from tweakgui.engine.io.inputs import check_regular_file

    check_regular_file(Path(path), what)


def _check_params(params) -> None:
    from tweakgui.engine.params.limits import check_limits

    check_limits(params)


def _jobs_kw(jobs, scheduler=None):
    import inspect

    from tweakgui.engine import pipeline

    if jobs is not None and jobs < 1:
        raise UsageError(f"--jobs must be >= 1, got {jobs}")
    accepted = inspect.signature(pipeline.run).parameters
    kw = {"jobs": jobs, "scheduler": scheduler}
    return {k: v for k, v in kw.items() if v is not None and k in accepted}


def _check_output_dir(out: Path, check, what: str = ""):
    # the directory may not exist yet: then its nearest existing parent must be writable
    probe = out
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    try:
        check(probe)
    except Exception as e:
        if not what:
            raise
        raise UsageError(f"{what}: {e}") from None


def _gui_main(argv) -> int:
    from tweakgui.engine.params import files as paramfiles

    overrides, rest = paramfiles.parse_cli_overrides(argv)
    p = _Parser(prog="tweakgui", description="tweakgui: align HST/JWST visits (GUI). "
                "Headless: tweakgui align|restore|apply-wcs ... (see tweakgui align --help)",
                epilog=_param_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="*", metavar="INPUT")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    p.add_argument("--demo", action="store_true", help="open a generated demo visit")
    p.add_argument("--run", action="store_true", help="run the alignment at start")
    p.add_argument("--screenshot", metavar="FILE", help="save a PNG of the main window when done")
    p.add_argument("--exit", action="store_true", dest="exit_after", help="exit when done")
    p.add_argument("--headless", action="store_true", help="with --demo: align the demo visit without the GUI")
    args = p.parse_args(rest)
    if args.version:
        print(f"tweakgui {__version__}")
        return 0
    if overrides:
        paramfiles.resolve_params(None, None, overrides)  # validate now: one line, exit 2
    if args.inputs and (args.run or args.exit_after or args.screenshot):
        # a scripted run reports a bad input the way align does, before any window opens
        from tweakgui.engine.io.inputs import expand_inputs

        expand_inputs(args.inputs)
    if args.screenshot:
        _check_screenshot_path(Path(args.screenshot))
    try:
        from tweakgui.gui import app

    except ImportError as e:
        if args.demo:
            return _headless_demo()
        raise UsageError(f"the GUI cannot start: {e}") from None
    if args.headless and args.demo:
        return _headless_demo()
    return app.main(args.inputs, args.demo, args.run, args.screenshot, args.exit_after, overrides)


def _check_screenshot_path(path: Path) -> None:
    from tweakgui.engine.io.atomic import check_writable_dir

    if path.is_dir():
        raise UsageError(f"--screenshot {path}: is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"--screenshot {path}: directory {parent} does not exist")
    try:
        check_writable_dir(parent)
    except Exception as e:
        raise UsageError(f"--screenshot {path}: cannot be written ({str(e).split(': ')[-1]})") from None


def _headless_demo() -> int:
    from tweakgui.engine.synthetic import make_demo_visit

    d = Path(tempfile.mkdtemp(prefix="tweakgui-demo-"))
    v = make_demo_visit(d / "visit", n_images=4, shape=(1024, 1024))
    print(f"demo visit written to {d / 'visit'}")
    return align_main([f"@{v.list_file}", "--abs_refcat", str(v.refcat), "--output_dir", str(d / "out")])


def _tolerate_unusable_home() -> None:
    """Give this process a private HOME when the user's cannot be looked into.

    astropy reads ``~/.astropy`` (and ``$XDG_CONFIG_HOME``) when imported and
    fails to import when that cannot be stat-ed (``sudo -E`` into another
    user's HOME, a HOME on an unmounted share).  Nothing of tweakgui's own
    lives there, so a temporary, removed at exit, serves.
    """
    import os

    for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        # astropy ignores one that is not a directory, but says so on stderr at import
        value = os.environ.get(var)
        if value and not os.path.isdir(value):
            os.environ.pop(var)
    home = os.environ.get("HOME") or os.path.expanduser("~")
    probes = [Path(home) / ".astropy", Path(home) / ".config"]
    for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        if os.environ.get(var):
            probes.append(Path(os.environ[var]) / "astropy")
    try:
        for p in probes:
            p.exists()  # False when missing; raises when it cannot be looked for
        if not os.path.isdir(home):
            raise NotADirectoryError(home)
    except (OSError, ValueError):
        import atexit
        import shutil

        tmp = tempfile.mkdtemp(prefix="tweakgui-home-")
        atexit.register(shutil.rmtree, tmp, True)
        _TEMP_HOMES.append(tmp)
        os.environ["HOME"] = tmp
        for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
            os.environ.pop(var, None)
        log.debug("HOME %s cannot be used; using %s for this run", home, tmp)


_TEMP_HOMES: list[str] = []  # private HOMEs made for this process (removed at exit)


def main(argv=None) -> int:
    """Entry point; ``argv`` None means this is the process (``sys.argv``)."""
    process = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    if "astropy" not in sys.modules:
        _tolerate_unusable_home()
    if not (argv and argv[0] in COMMANDS):
        return _run_command(argv, None)
    from tweakgui.engine.interrupts import handle_signals

    if process:  # frames read, detected and written one after another reuse their memory
        from tweakgui.engine.processes import keep_freed_memory

        keep_freed_memory()
    # SIGINT and SIGTERM: stop within seconds, one line, nothing left behind
    with handle_signals(restore=not process) as cancel:
        try:
            rc = _run_command(argv, cancel)
        except KeyboardInterrupt as e:  # a signal during the handling of another error
            rc = _interrupted(e)
    if process and rc in (130, 143):
        _exit_interrupted(rc)
    if process:
        _end_process(rc)
    return rc


def _end_process(rc: int) -> None:
    """End a finished headless command without the interpreter's teardown.

    Tearing down the ~1500 modules an alignment has imported (numpy, astropy,
    scipy, tweakwcs) takes 0.3 s of CPU, up to a second of wall time on a busy
    machine, and does nothing for a process that is done: the exit handlers
    (temporary HOMEs, logging) run and the streams are flushed, then the
    process ends.  Every pool was shut down by then; were any other thread
    still running, the normal exit waits for it.
    """
    import atexit
    import threading

    if threading.active_count() > 1:
        return
    atexit._run_exitfuncs()
    _flush_and_exit(rc)


def _exit_interrupted(rc: int) -> None:
    """End an interrupted process now: its temporaries are gone and its workers stopped.

    Interpreter shutdown would run concurrent.futures' exit hook, which writes
    to the wake-up pipe of a pool whose workers were killed and prints an
    "Exception ignored" traceback.
    """
    import shutil

    for d in _TEMP_HOMES:
        shutil.rmtree(d, ignore_errors=True)
    _flush_and_exit(rc)


def _flush_and_exit(rc: int) -> None:
    """Flush stdout and stderr, then end the process without the interpreter's teardown."""
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(rc)


def _interrupted(exc=None) -> int:
    from tweakgui.engine.interrupts import pending
    from tweakgui.engine.io.atomic import remove_live_temporaries

    remove_live_temporaries()
    signum = pending() or getattr(exc, "signum", None)
    if signum is None:
        signum = 2
    name = {2: "SIGINT", 15: "SIGTERM"}.get(signum, f"signal {signum}")
    print(f"tweakgui: interrupted by {name}", file=sys.stderr)
    return 128 + signum


def _run_command(argv, cancel) -> int:
    debug = "--debug" in argv
    try:
        if argv and argv[0] == "align":
            return align_main(argv[1:], cancel)
        if argv and argv[0] == "restore":
            from tweakgui.engine.outputs.restore import restore_main

            rest = argv[1:]
            if not rest or rest[0] in ("-h", "--help"):
                print("usage: tweakgui restore IMAGE... : bring back the WCS archived before the first tweak")
                return 0 if rest else 2
            return restore_main(rest)
        if argv and argv[0] == "apply-wcs":
            from tweakgui.engine.io.atomic import transaction
            from tweakgui.engine.outputs.jwst import apply_wcs_main

            # every image written, then all swapped in together (or none, on any failure)
            with transaction(cancel) as tx:
                rc = apply_wcs_main(argv[1:])
                if rc != 0:
                    tx.abort()
            return rc
        return _gui_main(argv)
    except KeyboardInterrupt as e:
        if cancel is None:
            print("tweakgui: interrupted", file=sys.stderr)
            return 130
        return _interrupted(e)
    except Exception as e:
        from tweakgui.engine.interrupts import pending
        from tweakgui.engine.model import InputError
        from tweakgui.engine.params.spec import ParameterError

        if cancel is not None and pending() is not None:
            # whatever broke (a worker pool torn down, Cancelled) broke because of the signal
            return _interrupted(e)
        if debug:
            traceback.print_exc()
        if isinstance(e, (InputError, ParameterError, UsageError)):
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            print(f"tweakgui: error: {msg}", file=sys.stderr)
            return 2
        msg = str(e).splitlines()[0] if str(e) else ""
        print(f"tweakgui: internal error: {type(e).__name__}: {msg} (run with --debug for details)",
              file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
