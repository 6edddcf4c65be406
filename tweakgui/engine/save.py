"""Write the outputs of a run: images, headerlets, WCS files, shiftfile, catalogs, report."""

from __future__ import annotations

import logging
from pathlib import Path

from .model import STATUS_FAILED, InputError, VisitResult

__all__ = ["save_visit_outputs", "ALL_KINDS", "default_report_path"]

log = logging.getLogger(__name__)

ALL_KINDS = ("images", "headerlets", "wcs", "shiftfile", "report", "catalogs")


def default_report_path(output_dir) -> Path:
    return Path(output_dir) / "tweakreg_report.json"


def save_visit_outputs(result: VisitResult, output_dir: Path, params, in_place: bool = False,
                       selected: set | None = None, kinds=ALL_KINDS, report_path=None) -> list[Path]:
    """Write the chosen kinds of output for the aligned images.

    Only images whose status is not FAILED are written (the report lists every
    image).  ``selected`` restricts the images by file name.  Returns the paths
    written, in order.
    """
    from .atomic import check_writable_dir

    output_dir = check_writable_dir(output_dir, create=True)
    chosen = [r for r in result.images if selected is None or r.exposure.name in selected]
    before = _existing(output_dir, report_path)
    written: list[Path] = []
    try:
        _write_all(result, chosen, output_dir, params, in_place, set(kinds), report_path, written)
    except Exception as exc:
        removed = _remove_new(output_dir, report_path, before, chosen, written)
        if removed and isinstance(exc, InputError):
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise type(exc)(f"{msg}; the {removed} new file(s) this run had written were removed") from exc
        raise
    for p in written:
        log.info("wrote %s", p)
    return written


def _existing(output_dir: Path, report_path) -> set[Path]:
    out = {p.resolve() for p in output_dir.iterdir() if p.is_file()}
    if report_path and Path(report_path).is_file():
        out.add(Path(report_path).resolve())
    return out


def _remove_new(output_dir: Path, report_path, before: set[Path], chosen, written) -> int:
    """Remove the files of this run that did not exist before it (a failed save leaves no partial set).

    Files the run replaced (an older output, an input with ``in_place``) are
    complete new versions and stay.  Besides the paths already returned by the
    writers, files named like this run's outputs (``<root>_*``, ``tweakreg_*``)
    that appeared in ``output_dir`` are removed: a writer of several files may
    fail after its first.
    """
    roots = tuple(f"{r.exposure.root}_" for r in chosen) + ("tweakreg_",)
    candidates = set(Path(p).resolve() for p in written)
    candidates |= {p.resolve() for p in output_dir.iterdir()
                   if p.is_file() and p.name.startswith(roots)}
    if report_path:
        candidates.add(Path(report_path).resolve())
    # never an input, whatever happened (with in_place the inputs are outputs)
    inputs = {Path(r.exposure.path).resolve() for r in chosen}
    n = 0
    for p in candidates:
        if p in before or p in inputs or not p.is_file():
            continue
        try:
            p.unlink()
            n += 1
        except OSError:
            log.warning("could not remove %s after a failed save", p)
    for r in chosen:
        if r.output is not None and Path(r.output).resolve() not in before and not Path(r.output).exists():
            r.output = None
        r.extra_outputs = [p for p in r.extra_outputs if Path(p).exists()]
    return n


def _write_all(result, chosen, output_dir, params, in_place, kinds, report_path, written):
    for r in chosen:
        if r.status == STATUS_FAILED:
            continue
        jwst = r.exposure.kind == "jwst"
        if "images" in kinds:
            if jwst:
                from .jwst_outputs import write_jwst_tweaked

                r.output = write_jwst_tweaked(r, output_dir, params, in_place=in_place)
            else:
                from .outputs import write_updated_fits

                r.output = write_updated_fits(r, output_dir, wcsname=params.wcsname, in_place=in_place)
            written.append(r.output)
        if "wcs" in kinds and jwst:
            from .jwst_outputs import write_wcs_file

            p = write_wcs_file(r, output_dir, params)
            r.extra_outputs.append(p)
            written.append(p)
        if "headerlets" in kinds and not jwst:
            from .headerlet import headerlet_path, write_headerlet

            fit = r.fit
            p = write_headerlet(
                r, headerlet_path(r.exposure, output_dir), wcsname=params.wcsname,
                catalog=params.abs_refcat or "relative",
                descrip=f"tweakgui {fit.kind} {fit.fitgeom} fit" if fit else "tweakgui reference image",
            )
            r.extra_outputs.append(p)
            written.append(p)
        if "catalogs" in kinds and params.save_catalogs:
            from .outputs import write_catalogs

            ps = write_catalogs(r, output_dir, params.catalog_format)
            r.extra_outputs += ps
            written += ps
    fits_images = [r for r in chosen if r.exposure.kind == "fits" and r.status != STATUS_FAILED]
    if "shiftfile" in kinds and fits_images:
        from .shiftfile import write_shiftfile

        out = write_shiftfile(result, output_dir / "tweakreg_shifts.txt")
        if out:
            written += list(out)
    if params.save_abs_catalog and result.refcat is not None:
        from .atomic import atomic_path

        p = output_dir / f"tweakreg_abs_refcat.{_ext(params.catalog_format)}"
        with atomic_path(p) as tmp:
            result.refcat.write(tmp, format=_fmt(params.catalog_format), overwrite=True)
        written.append(p)
    if "report" in kinds:
        from .report import write_report

        p = Path(report_path) if report_path else default_report_path(output_dir)
        result.report_path = write_report(result, p) or p
        written.append(result.report_path)
        from .qa_table import QA_TABLE_NAME, write_fits_table

        written.append(write_fits_table(result, Path(result.report_path).with_name(QA_TABLE_NAME)))


def _fmt(fmt: str) -> str:
    fmt = fmt or "ecsv"
    return "ascii.ecsv" if fmt == "ecsv" else fmt


def _ext(fmt: str) -> str:
    fmt = (fmt or "ecsv").split(".")[-1]
    return {"fits": "fits", "votable": "xml", "csv": "csv"}.get(fmt, "ecsv")
