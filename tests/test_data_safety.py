"""Nothing lost, ever (issue 14): the cases of the adversarial matrix, kept.

Every case checks what it is about and the common contract: the exit code;
on exit 2 exactly one line on stderr naming the culprit, no traceback,
nothing in the output directory; the inputs byte-identical (hashed before and
after, unless the case is an ``--in_place`` success); no temporary file
anywhere.  Processes and signals are in ``tests/test_interrupts.py``.

Decisions where the issue is silent:

* Two inputs of one base name from different folders are refused (exit 2,
  both named) by ``align``, whose outputs are named after the base name; the
  engine still gives them distinct default group ids (``a/x``, ``b/x``) for
  the GUI.
* ``--in_place`` by a non-root user on a file owned by someone else is
  refused before the run (the owner could not be kept); as root the owner,
  group and mode are carried over to the new file.
* A full image set is refused when an image has no free alternate WCS letter
  (checked before the run); the save's all-or-nothing is tested on its own
  with that case too.
* Reference sources more than 10 deg beyond the visit are dropped (a
  warning with the count); a non-finite position is an error naming the
  column.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from cli_visit import SHAPE, visit, visit_source  # noqa: F401  (fixtures)
from cli_visit import nonblank_lines as _lines
from cli_visit import run_cli as _run

from tweakgui.engine.io.atomic import TMP_MARKER
from tweakgui.engine.synthetic import wcs_error_mas


def _hashes(d: Path) -> dict[str, str]:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file() and not p.is_symlink()}


def _no_tmp(*dirs: Path) -> None:
    left = [str(p) for d in dirs if d.is_dir() for p in d.rglob("*") if TMP_MARKER in p.name]
    assert not left, left


def exit2(capsys, visit, args, *words, out=True):
    """Run ``tweakgui ARGS``; the exit-2 contract; returns the line."""
    before = _hashes(visit.root)
    if out:
        args = [*args, "--output_dir", visit.out]
    rc, so, err = _run(capsys, args)
    lines = _lines(err)
    assert rc == 2, (rc, so, err)
    assert len(lines) == 1, err
    assert lines[0].startswith("tweakgui: error: "), lines[0]
    assert "Traceback" not in err + so and "internal error" not in err
    for w in words:
        assert str(w) in lines[0], (w, lines[0])
    assert _hashes(visit.root) == before
    assert not visit.out.exists() or not any(visit.out.iterdir()), list(visit.out.iterdir())
    _no_tmp(visit.root)
    return lines[0]


# ------------------------------------------------------------ 1. outputs never alias inputs


@pytest.mark.parametrize("option", ["--report", "--log"])
def test_report_or_log_naming_an_input(capsys, visit, option):
    exit2(capsys, visit, ["align", visit.a, visit.b, option, visit.b], str(visit.b), option.strip("-"))


def test_log_naming_the_reference_catalog(capsys, visit):
    exit2(capsys, visit, ["align", visit.a, visit.b, "--abs_refcat", visit.refcat, "--log", visit.refcat],
          "refcat.ecsv", "reference catalog")


@pytest.mark.parametrize("name", ["demo01_hlet.fits", "tweakreg_shifts_wcs.fits", "tweakreg_report.json"])
def test_input_named_like_an_output(capsys, visit, name):
    """An input called like one of the run's outputs, with the outputs beside the inputs."""
    p = visit.dir / name
    if name.endswith(".json"):  # as the report: given as a list-less input it would be an ASN
        shutil.copy(visit.b, visit.dir / "demo03_flt.fits")
        lst = visit.dir / "visit.lst"
        lst.write_text("demo01_flt.fits\ndemo03_flt.fits\n")
        exit2(capsys, visit, ["align", f"@{lst}", "--report", visit.dir / "visit.lst"],
              "visit.lst", "list file")
        return
    shutil.copy(visit.b, p)
    before = _hashes(visit.dir)
    rc, so, err = _run(capsys, ["align", visit.a, p, "--output_dir", visit.dir])
    assert rc == 2 and len(_lines(err)) == 1 and "Traceback" not in err, err
    assert name in err and "would overwrite" in err
    assert _hashes(visit.dir) == before
    _no_tmp(visit.dir)


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_output_linked_to_an_input(capsys, visit, link):
    """out/demo01_tweakreg.fits is a link to the input: writing it would change the input."""
    visit.out.mkdir()
    target = visit.out / "demo01_tweakreg.fits"
    (os.symlink if link == "symlink" else os.link)(visit.a, target)
    before = _hashes(visit.dir)
    rc, so, err = _run(capsys, ["align", visit.a, visit.b, "--output_dir", visit.out])
    assert rc == 2 and len(_lines(err)) == 1 and "Traceback" not in err, err
    assert "demo01_tweakreg.fits" in err and str(visit.a) in err
    assert _hashes(visit.dir) == before
    assert sorted(p.name for p in visit.out.iterdir()) == ["demo01_tweakreg.fits"]
    _no_tmp(visit.root)


def test_input_hard_linked_to_another_input(capsys, visit):
    link = visit.dir / "again_flt.fits"
    os.link(visit.a, link)
    exit2(capsys, visit, ["align", visit.a, visit.b, link], "again_flt.fits", str(visit.a), "hard link")


def test_report_linked_to_an_input(capsys, visit):
    link = visit.root / "report.json"
    os.link(visit.b, link)
    exit2(capsys, visit, ["align", visit.a, visit.b, "--report", link], "report.json", str(visit.b))


def test_same_base_name_in_two_folders(capsys, visit):
    (visit.dir / "a").mkdir()
    (visit.dir / "b").mkdir()
    x1, x2 = visit.dir / "a" / "x_flt.fits", visit.dir / "b" / "x_flt.fits"
    shutil.copy(visit.a, x1)
    shutil.copy(visit.b, x2)
    line = exit2(capsys, visit, ["align", x1, x2], str(x1), str(x2), "x_tweakreg.fits")
    assert "both write" in line


def test_same_base_name_gets_distinct_group_ids(visit):
    from tweakgui.engine.params.spec import TweakRegParams
    from tweakgui.engine.visit import load_visit

    (visit.dir / "a").mkdir()
    (visit.dir / "b").mkdir()
    shutil.copy(visit.a, visit.dir / "a" / "x_flt.fits")
    shutil.copy(visit.b, visit.dir / "b" / "x_flt.fits")
    v = load_visit([str(visit.dir / "a" / "x_flt.fits"), str(visit.dir / "b" / "x_flt.fits"),
                    str(visit.a)], TweakRegParams())
    assert [e.group_id for e in v.exposures] == ["a/x", "b/x", "demo01"]


# ----------------------------------------------------------- 2. all-or-nothing --in_place


def _use_all_letters(path: Path) -> None:
    with fits.open(path, mode="update") as h:
        for k in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
            h["SCI"].header[f"WCSNAME{k}"] = f"OLD{k}"


def test_in_place_with_no_free_wcs_letter(capsys, visit):
    _use_all_letters(visit.b)
    exit2(capsys, visit, ["align", visit.a, visit.b, "--abs_refcat", visit.refcat, "--in_place"],
          str(visit.b), "26 alternate WCS letters")


def test_save_is_all_or_nothing_when_one_image_cannot_be_archived(visit):
    """The save itself (the GUI's path, no pre-check): image 1 ready, image 2 fails, no input changed."""
    from tweakgui.engine import pipeline
    from tweakgui.engine.model import InputError
    from tweakgui.engine.outputs.save import save_visit_outputs
    from tweakgui.engine.params.spec import TweakRegParams
    from tweakgui.engine.visit import load_visit

    params = TweakRegParams(abs_refcat=str(visit.refcat))
    v = load_visit([str(visit.a), str(visit.b)], params)
    result = pipeline.run(v, params, jobs=1, cache=None)
    assert [r.status for r in result.images] == ["SUCCESS", "SUCCESS"]
    _use_all_letters(visit.b)
    before = _hashes(visit.dir)
    with pytest.raises(InputError, match="26 alternate WCS letters"):
        save_visit_outputs(result, visit.out, params, in_place=True)
    assert _hashes(visit.dir) == before
    assert not visit.out.exists()
    assert [r.output for r in result.images] == [None, None]
    _no_tmp(visit.root)


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of 1.6 MB (root only; skipped otherwise)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs needs root")
    d = tmp_path / "small"
    d.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1600k", "tmpfs", str(d)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {p.stderr.strip()}")
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", str(d)], capture_output=True)


def test_in_place_disk_full_on_a_real_file_system(capsys, visit, small_disk):
    """Two 409 kB inputs on a 1.6 MB tmpfs: the first new version fits beside them, the second does not."""
    for p in (visit.a, visit.b, visit.refcat):
        shutil.copy(p, small_disk / p.name)
    a, b = small_disk / visit.a.name, small_disk / visit.b.name
    before = _hashes(small_disk)
    rc, so, err = _run(capsys, ["align", a, b, "--abs_refcat", small_disk / "refcat.ecsv", "--in_place",
                                "--output_dir", visit.out])
    assert rc == 2, err
    assert len(_lines(err)) == 1 and "Traceback" not in err
    assert "disk full" in err and "no file was written or changed" in err
    assert _hashes(small_disk) == before
    assert sorted(p.name for p in small_disk.iterdir()) == sorted([a.name, b.name, "refcat.ecsv"])
    assert not visit.out.exists() or not any(visit.out.iterdir())


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown to another user needs root")
def test_in_place_keeps_owner_group_and_mode(capsys, visit):
    for p in (visit.a, visit.b):
        os.chown(p, 12345, 23456)
        os.chmod(p, 0o640)
    rc, so, err = _run(capsys, ["align", visit.a, visit.b, "--abs_refcat", visit.refcat, "--in_place",
                                "--output_dir", visit.out])
    assert rc == 0, err
    for p in (visit.a, visit.b):
        st = os.stat(p)
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (12345, 23456, 0o640)
        assert fits.getheader(p, "SCI")["WCSNAME"] == "TWEAK"
    _no_tmp(visit.root)


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX owners")
def test_in_place_on_another_users_file_refused(capsys, visit, monkeypatch):
    """As a user who does not own the inputs (and is not root): refused before the run, named."""
    other = os.stat(visit.a).st_uid + 1000
    monkeypatch.setattr(os, "geteuid", lambda: other)
    line = exit2(capsys, visit, ["align", visit.a, visit.b, "--in_place"], str(visit.a),
                 "would change its owner")
    assert f"uid {os.stat(visit.a).st_uid}" in line


# ------------------------------------------------------------------ 4. no hang, bounded memory


@pytest.mark.parametrize("kind", ["fifo", "device", "fifo-list"])
def test_only_regular_files_are_read(capsys, visit, kind):
    if kind == "device":
        if not os.path.exists("/dev/zero"):
            pytest.skip("no /dev/zero")
        exit2(capsys, visit, ["align", visit.a, "/dev/zero"], "/dev/zero", "a device")
        return
    fifo = visit.root / ("pipe_flt.fits" if kind == "fifo" else "pipe.lst")
    os.mkfifo(fifo)
    arg = fifo if kind == "fifo" else f"@{fifo}"
    exit2(capsys, visit, ["align", visit.a, arg], str(fifo), "named pipe (FIFO)")


def test_log_to_a_fifo_refused_to_dev_null_fine(capsys, visit):
    fifo = visit.root / "log.fifo"
    os.mkfifo(fifo)
    exit2(capsys, visit, ["align", visit.a, visit.b, "--log", fifo], "--log", str(fifo), "FIFO")
    if os.path.exists("/dev/null"):
        rc, so, err = _run(capsys, ["align", visit.a, visit.b, "--log", "/dev/null", "--output_dir", visit.out])
        assert rc == 0, err


@pytest.mark.parametrize("name,value", [("searchrad", "1e6"), ("kernel_fwhm", "1e6"), ("abs_searchrad", "1e6")])
def test_sizes_beyond_memory_refused(capsys, visit, name, value):
    t0 = time.monotonic()
    line = exit2(capsys, visit, ["align", visit.a, visit.b, "--abs_refcat", visit.refcat, f"--{name}", value],
                 name, "too large", "at most")
    assert time.monotonic() - t0 < 10
    assert re.search(r"\d+(\.\d+)? (KiB|MiB|GiB|TiB|PiB|EiB)", line)


class _Trickle(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server API)
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.end_headers()
        try:
            for _ in range(600):
                self.wfile.write(b"#")
                self.wfile.flush()
                time.sleep(1.0)
        except OSError:
            pass

    def log_message(self, *args):
        pass


def test_catalog_service_that_trickles_meets_the_overall_deadline(monkeypatch, capsys, visit):
    """One byte a second never trips a per-read timeout; the 2 s deadline of the whole query ends it."""
    from tweakgui.engine.refcat import gaia

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

    srv = Server(("127.0.0.1", 0), _Trickle)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv(gaia.ASTROMETRIC_CAT_ENVVAR, f"http://127.0.0.1:{srv.server_address[1]}")
        monkeypatch.setattr(gaia, "TIMEOUT", 2.0)
        t0 = time.monotonic()
        line = exit2(capsys, visit, ["align", visit.a, visit.b, "--abs_refcat", "GAIADR3"],
                     "GAIADR3", "no complete answer within 2 s")
        assert time.monotonic() - t0 < 6, line
    finally:
        srv.shutdown()
        srv.server_close()


def test_gaia_offline_is_one_line(monkeypatch, capsys, visit):
    from tweakgui.engine.refcat import gaia

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(gaia.ASTROMETRIC_CAT_ENVVAR, f"http://127.0.0.1:{port}")
    exit2(capsys, visit, ["align", visit.a, visit.b, "--abs_refcat", "GAIADR3"], "GAIADR3",
          "could not be reached")


# -------------------------------------------------------------- 5. internal errors become causes


@pytest.mark.parametrize("kind", ["CD", "PC"])
@pytest.mark.parametrize("m", [[[0.0, 0.0], [0.0, 0.0]], [[1.0, 2.0], [0.5, 1.0]]], ids=["zero", "rank-1"])
def test_singular_cd_matrix(capsys, visit, kind, m):
    scale = 1e-5 if kind == "CD" else 1.0
    with fits.open(visit.b, mode="update") as h:
        hdr = h["SCI"].header
        for i in range(2):
            for j in range(2):
                if kind == "CD":
                    hdr.remove(f"PC{i + 1}_{j + 1}", ignore_missing=True)
                hdr[f"{kind}{i + 1}_{j + 1}"] = m[i][j] * scale
    exit2(capsys, visit, ["align", visit.a, visit.b], "demo02_flt.fits", "invalid WCS")


def test_non_celestial_wcs(capsys, visit):
    with fits.open(visit.b, mode="update") as h:
        h["SCI"].header["CTYPE1"] = "LINEAR"
        h["SCI"].header["CTYPE2"] = "LINEAR"
    exit2(capsys, visit, ["align", visit.a, visit.b], "demo02_flt.fits", "no celestial WCS")


def test_non_ascii_wcsname_refused_by_name(capsys, visit):
    exit2(capsys, visit, ["align", visit.a, visit.b, "--wcsname", "TWEAKé"], "wcsname", "ASCII")


@pytest.mark.parametrize("in_place", [False, True], ids=["copies", "in_place"])
def test_non_ascii_file_name_aligns(capsys, visit, in_place):
    d = visit.dir / "données"
    d.mkdir()
    a = d / "démo01_flt.fits"
    shutil.move(visit.a, a)
    args = ["align", a, visit.b, "--abs_refcat", visit.refcat, "--output_dir", visit.out]
    rc, so, err = _run(capsys, args + (["--in_place"] if in_place else []))
    assert rc == 0, err
    out = a if in_place else visit.out / "démo01_tweakreg.fits"
    with fits.open(out) as h:
        w = WCS(h["SCI"].header, h)
        h.verify("exception")
    assert wcs_error_mas(w, visit.truth["demo01_flt.fits"][0], SHAPE) < 10.0
    hlet = fits.getheader(visit.out / "démo01_hlet.fits")
    assert hlet["HDRNAME"].isascii()
    _no_tmp(visit.root)


def test_reference_catalog_with_a_star_on_the_far_side(capsys, visit):
    ref = Table.read(visit.refcat)
    ref.add_row({c: ref[c][0] for c in ref.colnames})
    ref["RA"][-1] = (ref["RA"][0] + 180.0) % 360.0
    ref["DEC"][-1] = -ref["DEC"][0]
    far = visit.dir / "far_refcat.ecsv"
    ref.write(far)
    rc, so, err = _run(capsys, ["align", visit.a, visit.b, "--abs_refcat", far, "--output_dir", visit.out])
    assert rc == 0, err
    assert _lines(err) == [f"WARNING: reference catalog far_refcat.ecsv: 1 of {len(ref)} sources lie more "
                           "than 10 deg beyond the visit and were dropped"]


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_reference_catalog_with_a_non_finite_position(capsys, visit, value):
    ref = Table.read(visit.refcat)
    ref["DEC"][3] = value
    bad = visit.dir / "bad_refcat.ecsv"
    ref.write(bad)
    exit2(capsys, visit, ["align", visit.a, visit.b, "--abs_refcat", bad], "bad_refcat.ecsv", "'DEC'",
          "not finite", "row")


@pytest.mark.parametrize("case", ["home", "xdg-file"])
def test_unusable_home_directory(visit, case):
    """HOME whose entries cannot be looked at (as another user's), or XDG_CONFIG_HOME naming a file.

    astropy would not even import in the first case and writes a warning to
    stderr at import in the second.
    """
    env = dict(os.environ)
    env.pop("XDG_CONFIG_HOME", None)
    env.pop("XDG_CACHE_HOME", None)
    if case == "home":
        home = "/proc/1/fdinfo"
        try:
            os.stat(f"{home}/.astropy")
            pytest.skip("this HOME is usable here")
        except FileNotFoundError:
            pytest.skip("this HOME is usable here")
        except PermissionError:
            pass
        env["HOME"] = home
    else:
        env["XDG_CONFIG_HOME"] = str(visit.refcat)
    p = subprocess.run([sys.executable, "-m", "tweakgui", "align", str(visit.a), str(visit.b), "--output_dir",
                        str(visit.out), "--quiet"], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    assert (visit.out / "demo02_tweakreg.fits").is_file()


def _to_galactic(src: Path, dst: Path) -> None:
    """The same image with an equivalent GLON/GLAT TAN WCS (SIP kept, linear part refitted)."""
    from astropy.coordinates import SkyCoord
    from astropy.wcs.utils import fit_wcs_from_points

    with fits.open(src) as h:
        hdr = h["SCI"].header
        w = WCS(hdr, h)
        yy, xx = np.mgrid[0:SHAPE[0]:16, 0:SHAPE[1]:16]
        # the linear part only: SIP acts in pixel space before it and is kept as it is
        ra, dec = w.wcs_pix2world(xx.ravel(), yy.ravel(), 0)
        g = SkyCoord(ra, dec, unit="deg").galactic
        gw = fit_wcs_from_points((xx.ravel(), yy.ravel()), g, proj_point="center", projection="TAN")
        cd = gw.wcs.cd if gw.wcs.has_cd() else np.diag(gw.wcs.cdelt) @ gw.wcs.get_pc()
        for k in list(hdr.keys()):
            if re.match(r"^(CD|PC)\d_\d$|^CDELT\d$|^RADESYS$|^EQUINOX$", k):
                del hdr[k]
        sip = "-SIP" if "A_ORDER" in hdr else ""
        hdr["CTYPE1"], hdr["CTYPE2"] = f"GLON-TAN{sip}", f"GLAT-TAN{sip}"
        hdr["CRVAL1"], hdr["CRVAL2"] = float(gw.wcs.crval[0]), float(gw.wcs.crval[1])
        hdr["CRPIX1"], hdr["CRPIX2"] = float(gw.wcs.crpix[0]), float(gw.wcs.crpix[1])
        for i in range(2):
            for j in range(2):
                hdr[f"CD{i + 1}_{j + 1}"] = float(cd[i, j])
        h.writeto(dst)


def test_galactic_wcs_aligns_to_an_icrs_catalog(capsys, visit):
    gal = visit.root / "gal"
    gal.mkdir()
    for p in (visit.a, visit.b):
        _to_galactic(p, gal / p.name)
    rc, so, err = _run(capsys, ["align", gal / visit.a.name, gal / visit.b.name, "--abs_refcat", visit.refcat,
                                "--output_dir", visit.out])
    assert rc == 0, err
    for p in (visit.a, visit.b):
        with fits.open(visit.out / p.name.replace("_flt", "_tweakreg")) as h:
            w = WCS(h["SCI"].header, h)
        assert w.wcs.ctype[0].startswith("GLON")
        # the truth is ICRS: compare positions on the sky
        from astropy.coordinates import SkyCoord

        truth = visit.truth[p.name][0]
        xs, ys = np.meshgrid(np.linspace(0, SHAPE[1] - 1, 5), np.linspace(0, SHAPE[0] - 1, 5))
        lon, lat = w.all_pix2world(xs.ravel(), ys.ravel(), 0)
        ra, dec = truth.all_pix2world(xs.ravel(), ys.ravel(), 0)
        sep = SkyCoord(lon, lat, unit="deg", frame="galactic").separation(SkyCoord(ra, dec, unit="deg"))
        assert sep.arcsec.max() * 1000 < 15.0, sep.arcsec.max()


# ---------------------------------------------------------------- 6. contract wording


def test_apply_wcs_without_wcs_dir_is_one_line(capsys, visit):
    exit2(capsys, visit, ["apply-wcs", visit.a], "--wcs_dir", out=False)


def test_restore_gives_back_a_header_without_wcsname(capsys, visit):
    with fits.open(visit.a, mode="update") as h:
        for k in ("WCSNAME",):
            h["SCI"].header.remove(k, ignore_missing=True)
    original = fits.getheader(visit.a, "SCI")
    assert "WCSNAME" not in original
    rc, _, err = _run(capsys, ["align", visit.a, visit.b, "--abs_refcat", visit.refcat, "--in_place",
                               "--output_dir", visit.out])
    assert rc == 0, err
    assert fits.getheader(visit.a, "SCI")["WCSNAME"] == "TWEAK"
    rc, _, err = _run(capsys, ["restore", visit.a])
    assert rc == 0, err
    restored = fits.getheader(visit.a, "SCI")
    assert "WCSNAME" not in restored
    from tweakgui.engine.outputs.history import wcs_cards

    assert wcs_cards(restored) == wcs_cards(original)


def test_restore_of_several_images_is_all_or_nothing(capsys, visit, monkeypatch):
    """The second image cannot be written (disk full): the first is not restored either."""
    import errno

    rc, _, err = _run(capsys, ["align", visit.a, visit.b, "--abs_refcat", visit.refcat, "--in_place",
                               "--output_dir", visit.out])
    assert rc == 0, err
    real = fits.HDUList.writeto
    calls = []

    def writeto(self, fileobj, *args, **kwargs):
        if isinstance(fileobj, (str, os.PathLike)):
            calls.append(fileobj)
            if len(calls) > 1:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, fileobj, *args, **kwargs)

    monkeypatch.setattr(fits.HDUList, "writeto", writeto)
    before = _hashes(visit.dir)
    rc, so, err = _run(capsys, ["restore", visit.a, visit.b])
    assert rc == 2 and len(_lines(err)) == 1 and "Traceback" not in err, err
    assert "demo02_flt.fits" in err and "disk full" in err and "no image was changed" in err
    assert len(calls) == 2
    assert _hashes(visit.dir) == before
    _no_tmp(visit.root)
    monkeypatch.undo()
    rc, so, err = _run(capsys, ["restore", visit.a, visit.b])
    assert rc == 0, err
    from tweakgui.engine.outputs.history import wcs_cards

    for p in (visit.a, visit.b):
        assert wcs_cards(fits.getheader(p, "SCI")) == wcs_cards(fits.getheader(visit.original / p.name, "SCI"))


def test_restore_of_a_missing_file_is_one_line(capsys, visit):
    rc, so, err = _run(capsys, ["restore", visit.dir / "nope_flt.fits"])
    assert rc == 2 and len(_lines(err)) == 1 and "nope_flt.fits" in err and "Traceback" not in err


def _gui(*args, cwd):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, "-m", "tweakgui", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def test_gui_run_exit_names_a_missing_input(visit):
    p = _gui("nosuchfile.fits", "--run", "--exit", cwd=visit.root)
    assert p.returncode == 2
    assert _lines(p.stderr) == ["tweakgui: error: nosuchfile.fits: file not found"], p.stderr


@pytest.mark.parametrize("where", ["missing-dir", "not-writable"])
def test_gui_screenshot_path_is_named(visit, where):
    if where == "missing-dir":
        shot = visit.root / "nodir" / "s.png"
    else:
        if not os.path.isdir("/proc/self"):
            pytest.skip("needs /proc")
        shot = Path("/proc/self/s.png")  # not even root can create files there
    p = _gui(visit.a, "--run", "--exit", "--screenshot", shot, cwd=visit.root)
    assert p.returncode == 2
    lines = _lines(p.stderr)
    assert len(lines) == 1 and "--screenshot" in lines[0] and str(shot) in lines[0], p.stderr
    assert "Traceback" not in p.stderr
    assert not shot.exists()



@pytest.mark.realdata
def test_apply_wcs_in_place_is_all_or_nothing(capsys, shared_data, tmp_path, monkeypatch):
    """Two JWST images; writing the second fails: the first, already written, is not swapped in."""
    import ceers_render as cr

    from tweakgui.engine.io.atomic import OutputError
    from tweakgui.engine.outputs import jwst as jwst_outputs

    name = "jw01345001001_02201_00001"
    ceers = shared_data / "ceers-nircam"
    paths = [cr.render_image(name, det, tmp_path, seed=5 + i, ceers=ceers).path
             for i, det in enumerate(("nrca3", "nrcb4"))]
    before = _hashes(tmp_path)
    real = jwst_outputs._save_model
    saved = []

    def save(model, target):
        saved.append(target)
        if len(saved) > 1:
            raise OutputError(f"{target}: cannot write: disk full (no space left on device)")
        real(model, target)

    monkeypatch.setattr(jwst_outputs, "_save_model", save)
    rc, so, err = _run(capsys, ["apply-wcs", *paths, "--wcs_dir", ceers / cr.WCS_DIR, "--in_place"])
    assert rc == 2 and len(_lines(err)) == 1 and "disk full" in err and "Traceback" not in err, err
    assert len(saved) == 2
    assert _hashes(tmp_path) == before
    _no_tmp(tmp_path)


def test_reference_catalog_named_like_the_qa_table(capsys, visit):
    """The QA table (tweakreg_fits.ecsv, beside the report) would overwrite an input catalog."""
    cat = visit.out / "tweakreg_fits.ecsv"
    visit.out.mkdir()
    shutil.copy(visit.refcat, cat)
    before = _hashes(visit.root)
    rc, so, err = _run(capsys, ["align", visit.a, visit.b, "--abs_refcat", cat, "--output_dir", visit.out])
    assert rc == 2 and len(_lines(err)) == 1 and "Traceback" not in err, err
    assert "tweakreg_fits.ecsv" in err
    assert _hashes(visit.root) == before
    _no_tmp(visit.root)
