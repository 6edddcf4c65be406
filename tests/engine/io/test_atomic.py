"""Atomic writes: old or new, never partial — under errors, a full disk and SIGKILL."""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from _fits_images import image_result, make_image
from astropy.io import fits

from tweakgui.engine.io.atomic import (
    TMP_MARKER,
    OutputError,
    atomic_write,
    atomic_write_bytes,
    atomic_write_text,
    check_writable_dir,
)
from tweakgui.engine.model import InputError
from tweakgui.engine.outputs.images import write_updated_fits

HERE = Path(__file__).resolve().parents[1]  # tests/engine: the shared helpers


def _leftovers(d: Path):
    return [p for p in d.iterdir() if TMP_MARKER in p.name]


def test_write_and_replace(tmp_path):
    p = tmp_path / "a.txt"
    atomic_write_text(p, "one")
    os.chmod(p, 0o640)
    atomic_write_bytes(p, b"two")
    assert p.read_bytes() == b"two" and (os.stat(p).st_mode & 0o777) == 0o640
    os.chmod(p, 0o444)  # a read-only file is replaced and stays read-only
    atomic_write_bytes(p, b"three")
    assert p.read_bytes() == b"three" and (os.stat(p).st_mode & 0o777) == 0o444
    assert not _leftovers(tmp_path)


def test_error_keeps_old_file_and_removes_temp(tmp_path):
    p = tmp_path / "a.txt"
    atomic_write_text(p, "old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_write(p, "w") as fh:
            fh.write("half of the new")
            raise RuntimeError("boom")
    assert p.read_text() == "old" and not _leftovers(tmp_path)


def test_disk_full_is_a_clean_error(tmp_path):
    p = tmp_path / "a.bin"
    atomic_write_bytes(p, b"old content")
    with pytest.raises(OutputError, match=r"a\.bin: cannot write: disk full"):
        with atomic_write(p) as fh:
            fh.write(b"x" * 1000)
            raise OSError(errno.ENOSPC, "No space left on device")
    assert p.read_bytes() == b"old content" and not _leftovers(tmp_path)
    assert isinstance(OutputError("x"), InputError)  # the CLI reports it in one line


def test_disk_full_while_writing_fits(tmp_path, monkeypatch):
    src = tmp_path / "img_flt.fits"
    exp = make_image(src, nchips=2)
    out = write_updated_fits(image_result(exp), tmp_path / "o")
    old = out.read_bytes()

    real_writeto = fits.HDUList.writeto

    def full_disk(self, name, *args, **kwargs):
        if not isinstance(name, (str, os.PathLike)):  # in-memory (embedded headerlets)
            return real_writeto(self, name, *args, **kwargs)
        with open(name, "wb") as fh:
            fh.write(b"SIMPLE  =                    T" + b" " * 2000)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fits.HDUList, "writeto", full_disk)
    with pytest.raises(OutputError, match="img_tweakreg.fits: cannot write: disk full"):
        write_updated_fits(image_result(exp, dra_arcsec=0.5), tmp_path / "o")
    assert out.read_bytes() == old and not _leftovers(tmp_path / "o")
    src_bytes = src.read_bytes()
    with pytest.raises(OutputError, match="disk full"):
        write_updated_fits(image_result(exp, dra_arcsec=0.5), in_place=True)
    assert src.read_bytes() == src_bytes and not _leftovers(tmp_path)


def test_check_writable_dir(tmp_path):
    with pytest.raises(OutputError, match=f"output directory {tmp_path / 'nope'}: does not exist"):
        check_writable_dir(tmp_path / "nope")
    assert check_writable_dir(tmp_path / "new" / "sub", create=True).is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is not a directory"):
        check_writable_dir(tmp_path / "file")
    with pytest.raises(OutputError, match="cannot be created"):
        check_writable_dir(tmp_path / "file" / "sub", create=True)
    # /proc refuses new files even to root
    if Path("/proc/self").is_dir():
        with pytest.raises(OutputError, match="output directory /proc: not writable"):
            check_writable_dir("/proc")
    assert not _leftovers(tmp_path)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores permissions")
def test_read_only_directory(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="not writable: permission denied"):
            check_writable_dir(d)
    finally:
        d.chmod(0o700)


WRITER = textwrap.dedent("""
    import os, sys, time

    sys.path.insert(0, {here!r})
    from _fits_images import exposure_of, image_result
    from tweakgui.engine.io import atomic
    from tweakgui.engine.outputs.images import write_updated_fits

    src, outdir, mode = sys.argv[1:4]
    if mode == "pause":
        real = os.fsync
        def slow_fsync(fd):
            if os.path.isfile(f"/proc/self/fd/{{fd}}"):
                print("FSYNC", flush=True)
                time.sleep(60)
            real(fd)
        atomic.os.fsync = slow_fsync
    results = [image_result(exposure_of(src), dra_arcsec=d) for d in (0.1, 0.4)]
    print("READY", flush=True)
    i = 0
    while True:
        write_updated_fits(results[i % 2], outdir)
        i += 1
""")


def _spawn(script, src, outdir, mode):
    env = dict(os.environ)
    return subprocess.Popen([sys.executable, str(script), str(src), str(outdir), mode],
                            stdout=subprocess.PIPE, text=True, env=env)


@pytest.mark.slow
def test_sigkill_leaves_old_or_new_never_partial(tmp_path):
    """A writer killed with SIGKILL at random moments leaves a valid, complete file."""
    src = tmp_path / "big_flt.fits"
    exp = make_image(src, nchips=2, shape=(1024, 1024))  # 8 MB of pixels per write
    versions = []
    for k, d in enumerate((0.1, 0.4)):
        out = write_updated_fits(image_result(exp, dra_arcsec=d), tmp_path / f"v{k}")
        versions.append(out.read_bytes())
    assert versions[0] != versions[1]
    outdir = tmp_path / "out"
    outdir.mkdir()
    target = outdir / "big_tweakreg.fits"
    target.write_bytes(versions[0])
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(here=str(HERE)))
    rng = random.Random(20261121)
    seen, partial_temps = set(), 0
    for _ in range(6):
        proc = _spawn(script, src, outdir, "loop")
        assert proc.stdout.readline().strip() == "READY"
        time.sleep(rng.uniform(0.05, 1.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        data = target.read_bytes()
        assert data in versions, "the target is neither the old nor the new file"
        seen.add(versions.index(data))
        with fits.open(target) as hdul:
            assert hdul[1].header["WCSNAME"] == "TWEAK"
        partial_temps += len(_leftovers(outdir))
        for p in _leftovers(outdir):
            p.unlink()
    # deterministic case: killed after the new content is written but before the rename
    target.write_bytes(versions[0])
    proc = _spawn(script, src, outdir, "pause")
    assert proc.stdout.readline().strip() == "READY"
    assert proc.stdout.readline().strip() == "FSYNC"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert target.read_bytes() == versions[0]
    assert len(_leftovers(outdir)) == 1  # the abandoned temp file, never the target
    print(f"kills: versions seen {sorted(seen)}, killed mid-write {partial_temps} times")
    assert seen  # at least one kill observed a complete file


def test_new_files_get_the_umask_default(tmp_path):
    old = os.umask(0o027)
    try:
        p = atomic_write_text(tmp_path / "new.txt", "x")
    finally:
        os.umask(old)
    assert (os.stat(p).st_mode & 0o777) == 0o640
