"""Write the outputs of a run: images, headerlets, WCS files, shiftfile, catalogs, report."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from tweakgui.engine.io.atomic import check_writable_dir, transaction
from tweakgui.engine.model import STATUS_FAILED, InputError, VisitResult
from tweakgui.engine.outputs.fitsio import output_path, write_table
from tweakgui.engine.outputs.headerlet import headerlet_path, write_headerlet
from tweakgui.engine.outputs.images import (
    catalog_extension,
    write_catalogs,
    write_updated_fits,
)
from tweakgui.engine.outputs.jwst import wcs_file_parts, write_jwst_tweaked, write_wcs_file
from tweakgui.engine.outputs.match_files import planned_match_files, write_match_files
from tweakgui.engine.outputs.prepared import prepare_wcs_files
from tweakgui.engine.outputs.qa_table import QA_TABLE_NAME, write_fits_table
from tweakgui.engine.outputs.report import write_report
from tweakgui.engine.outputs.shiftfile import write_shiftfile

__all__ = ["save_visit_outputs", "ALL_KINDS", "default_report_path", "planned_outputs", "check_output_paths"]

log = logging.getLogger(__name__)

ALL_KINDS = ("images", "headerlets", "wcs", "shiftfile", "report", "catalogs")


def default_report_path(output_dir) -> Path:
    return Path(output_dir) / "tweakreg_report.json"


def save_visit_outputs(result: VisitResult, output_dir: Path, params, in_place: bool = False,
                       selected: set | None = None, kinds=ALL_KINDS, report_path=None,
                       cancel=None, jobs: int = 1) -> list[Path]:
    """Write the chosen kinds of output for the aligned images, all or nothing.

    Only images whose status is not FAILED are written (the report lists every
    image).  ``selected`` restricts the images by file name.  Every file is
    first written and verified beside its target; only when all are ready are
    they swapped in (:func:`~tweakgui.engine.io.atomic.transaction`).  An error,
    or ``cancel`` (a ``threading.Event``) set, before that point leaves every
    target, inputs included with ``in_place``, byte-identical.  Returns the
    paths written, in order.  With ``jobs`` > 1 the WCS files of many JWST
    images are made in that many processes
    (:mod:`tweakgui.engine.outputs.prepared`).
    """

    chosen = [r for r in result.images if selected is None or r.exposure.name in selected]
    # the command line checked this before the run; other callers (the GUI) get it here
    check_output_paths(
        planned_outputs([r.exposure for r in chosen if r.status != STATUS_FAILED], output_dir, params,
                        in_place=in_place, report_path=report_path, kinds=kinds),
        _inputs_of(result, params))
    existed = Path(output_dir).is_dir()
    output_dir = check_writable_dir(output_dir, create=True)
    written: list[Path] = []
    state = [(r, r.output, list(r.extra_outputs)) for r in chosen]
    saved_report = result.report_path
    try:
        with transaction(cancel):
            _write_all(result, chosen, output_dir, params, in_place, set(kinds), report_path, written, jobs)
    except BaseException as exc:
        # nothing was swapped in: the result names no file of this attempt
        for r, output, extra in state:
            r.output, r.extra_outputs = output, extra
        result.report_path = saved_report
        if not existed:  # created for this attempt: not left behind empty
            try:
                output_dir.rmdir()
            except OSError:
                pass
        if isinstance(exc, InputError):
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise type(exc)(f"{msg}; no file was written or changed") from exc
        raise
    for p in written:
        log.info("wrote %s", p)
    return written


def _write_all(result, chosen, output_dir, params, in_place, kinds, report_path, written, jobs=1):
    contents = _prepared_wcs_files(chosen, params, kinds, jobs)
    for r in chosen:
        if r.status != STATUS_FAILED:
            written += _write_image_outputs(r, output_dir, params, in_place, kinds, contents.get(id(r)))
    if "catalogs" in kinds and params.save_match_files:
        written += write_match_files(result, chosen, output_dir, params)
    fits_images = [r for r in chosen if r.exposure.kind == "fits" and r.status != STATUS_FAILED]
    if "shiftfile" in kinds and fits_images:
        written += list(write_shiftfile(result, output_dir / "tweakreg_shifts.txt") or ())
    if params.save_abs_catalog and result.refcat is not None:
        written.append(write_table(result.refcat, output_dir / f"tweakreg_abs_refcat.{catalog_extension(params.catalog_format)}",
                                   params.catalog_format))
    if "report" in kinds:
        p = Path(report_path) if report_path else default_report_path(output_dir)
        result.report_path = write_report(result, p) or p
        written.append(result.report_path)
        written.append(write_fits_table(result, Path(result.report_path).with_name(QA_TABLE_NAME)))


def _prepared_wcs_files(chosen, params, kinds, jobs) -> dict:
    """``{id(result): bytes}`` of the JWST WCS files to write, made in processes when worth it."""
    todo = [r for r in chosen if r.status != STATUS_FAILED and r.exposure.kind == "jwst"
            and ("wcs" in kinds or (_wcs_only(r.exposure) and "images" in kinds))]
    contents = prepare_wcs_files([wcs_file_parts(r, params) for r in todo], params, jobs) if todo else None
    return {} if contents is None else {id(r): c for r, c in zip(todo, contents)}


def _wcs_only(exposure) -> bool:
    """A standalone GWCS file: no image to update; its output is its WCS file."""
    return exposure.kind == "jwst" and not exposure.has_pixels


def _write_image_outputs(r, output_dir, params, in_place: bool, kinds, wcs_file=None) -> list[Path]:
    """The files of one image: updated image, WCS file (JWST; ``wcs_file``: its bytes if made), headerlet (HST), catalogs."""
    jwst = r.exposure.kind == "jwst"
    written = []
    if _wcs_only(r.exposure):
        if kinds & {"images", "wcs"}:
            r.output = write_wcs_file(r, output_dir, params, content=wcs_file)
            written.append(r.output)
    elif "images" in kinds and r.exposure.has_pixels:  # a catalog input has no image to update
        if jwst:
            r.output = write_jwst_tweaked(r, output_dir, params, in_place=in_place)
        else:
            r.output = write_updated_fits(r, output_dir, wcsname=params.wcsname, in_place=in_place)
        written.append(r.output)
    extra = []
    if "wcs" in kinds and jwst and not _wcs_only(r.exposure):
        extra.append(write_wcs_file(r, output_dir, params, content=wcs_file))
    if "headerlets" in kinds and not jwst:
        fit = r.fit
        extra.append(write_headerlet(
            r, headerlet_path(r.exposure, output_dir), wcsname=params.wcsname,
            catalog=params.abs_refcat or "relative",
            descrip=f"tweakgui {fit.kind} {fit.fitgeom} fit" if fit else "tweakgui reference image"))
    if "catalogs" in kinds and params.save_catalogs:
        extra += write_catalogs(r, output_dir, params.catalog_format)
    r.extra_outputs += extra
    return written + extra


# ------------------------------------------------------------------ paths, checked before a run


def planned_outputs(exposures, output_dir, params, in_place: bool = False, report_path=None,
                    kinds=ALL_KINDS) -> list[tuple[Path, str, object]]:
    """Every file a run would write: ``(path, what, exposure or None)``.

    Mirrors :func:`_write_all` (images or, with ``in_place``, the inputs
    themselves; headerlets; JWST WCS files; catalogs; match files and the
    expanded reference catalog; shiftfile and its WCS file; the absolute
    reference catalog; the report).
    """

    out = Path(output_dir)
    kinds = set(kinds)
    plan: list[tuple[Path, str, object]] = []
    ext = catalog_extension(params.catalog_format)
    for e in exposures:
        jwst = e.kind == "jwst"
        if _wcs_only(e):
            if kinds & {"images", "wcs"}:
                plan.append((out / f"{e.root}_tweakreg.asdf", "WCS file", e))
        elif "images" in kinds and e.has_pixels:
            if in_place:
                plan.append((Path(e.path), "the input updated in place", e))
            else:
                plan.append((output_path(e, out), "output image", e))
        if "wcs" in kinds and jwst and not _wcs_only(e):
            plan.append((out / f"{e.root}_tweakreg.asdf", "WCS file", e))
        if "headerlets" in kinds and not jwst:
            plan.append((headerlet_path(e, out), "headerlet", e))
        if "catalogs" in kinds and params.save_catalogs:
            root = output_path(e, out).name.removesuffix("_tweakreg.fits")
            for chip in e.chips:
                from tweakgui.engine.outputs.fitsio import chip_extver

                tag = "" if len(e.chips) == 1 else f"_sci{chip_extver(chip)}"
                plan.append((out / f"{root}{tag}_cat.{ext}", "source catalog", e))
    if "catalogs" in kinds:
        plan += planned_match_files(exposures, out, params)
    if "shiftfile" in kinds and any(e.kind == "fits" for e in exposures):
        plan.append((out / "tweakreg_shifts.txt", "shiftfile", None))
        plan.append((out / "tweakreg_shifts_wcs.fits", "shiftfile's WCS file", None))
    if params.save_abs_catalog and (params.abs_refcat or "").strip():
        plan.append((out / f"tweakreg_abs_refcat.{catalog_extension(params.catalog_format)}", "absolute reference catalog",
                     None))
    if "report" in kinds:
        from tweakgui.engine.outputs.qa_table import QA_TABLE_NAME

        report = Path(report_path) if report_path else default_report_path(out)
        plan.append((report, "report", None))
        plan.append((report.with_name(QA_TABLE_NAME), "QA table", None))
    return plan


def _inputs_of(result: VisitResult, params) -> list[tuple[Path, str]]:
    files = []
    for r in result.images:
        files.append((Path(r.exposure.path), "input"))
        if r.exposure.meta.get("wcs_file"):
            files.append((Path(r.exposure.meta["wcs_file"]), "WCS file of a catalog input"))
        for c in r.exposure.chips:
            if c.catalog_path is not None:
                files.append((Path(c.catalog_path), "custom catalog"))
    for name, what in ((params.abs_refcat, "reference catalog"), (params.catfile, "catfile"),
                       (params.exclusions, "exclusions file")):
        if name and Path(str(name)).is_file():
            files.append((Path(str(name)), what))
    return files


def _identity(path: Path):
    """(resolved path, (st_dev, st_ino) or None): a file is the same via a symlink or a hard link."""
    p = Path(path)
    try:
        resolved = p.resolve()
    except (OSError, RuntimeError):
        resolved = Path(os.path.abspath(p))
    try:
        st = os.stat(p)
        ino = (st.st_dev, st.st_ino)
    except OSError:
        ino = None
    return resolved, ino


def _keys(ident) -> list:
    """The keys under which a file's identity is found: its resolved path, its inode."""
    return [("path", ident[0])] + ([("inode", ident[1])] if ident[1] is not None else [])


def check_output_paths(planned, inputs) -> None:
    """Refuse a run whose outputs would overwrite an input or each other.

    Parameters
    ----------
    planned : list of (path, what, exposure or None)
        From :func:`planned_outputs`, plus the log file if any.
    inputs : list of (path, what)
        Every file the run reads: images, catalogs, reference catalog,
        parameter files, lists.

    Raises
    ------
    InputError
        One line naming both paths.
    """
    ins = [(Path(p), what, _identity(p)) for p, what in inputs]
    # indexed by resolved path and by inode: a mosaic checks thousands of paths against thousands
    in_index: dict = {}
    for k, (_, _, iident) in enumerate(ins):
        for key in _keys(iident):
            in_index.setdefault(key, []).append(k)
    seen: dict = {}
    for path, what, exp in planned:
        ident = _identity(path)
        for k in sorted({k for key in _keys(ident) for k in in_index.get(key, ())}):
            ip, iwhat, iident = ins[k]
            if exp is not None and what == "the input updated in place" and Path(exp.path) == ip:
                continue
            if ident[0] == iident[0] and os.path.abspath(path) == os.path.abspath(ip):
                raise InputError(f"{path}: the {what} would overwrite this {iwhat}; "
                                 "choose another --output_dir or name")
            how = "is the same file as" if ident[0] != iident[0] else "would overwrite"
            raise InputError(f"{path}: the {what} {how} the {iwhat} {ip}; "
                             "choose another --output_dir or name")
        prev = next((seen[key] for key in _keys(ident) if key in seen), None)
        if prev is not None:
            ppath, pwhat, pident, pexp = prev
            if exp is not None and pexp is not None and exp is not pexp:
                raise InputError(f"{pexp.path} and {exp.path} would both write {path}; "
                                 "rename one or align them separately")
            raise InputError(f"{path}: written twice by this run (as {pwhat} and as {what})")
        for key in _keys(ident):
            seen[key] = (path, what, ident, exp)
