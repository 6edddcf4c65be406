"""Atomic file writing: a file is either the old one or the new one, never partial.

Every output of tweakgui goes through :func:`atomic_write` (or :func:`atomic_path`):
the content is written to a temporary file in the target directory, flushed
and ``fsync``-ed, then renamed over the target with :func:`os.replace`, which
is atomic on POSIX and Windows when both names are on the same file system.
On any error the temporary file is removed and the target is left untouched.
A process killed with SIGKILL can leave a ``.<name>.tweakgui-tmp-*`` file
behind, never a truncated target.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

from tweakgui.engine.model import InputError

__all__ = [
    "OutputError",
    "TMP_MARKER",
    "atomic_path",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_writable_dir",
]

log = logging.getLogger(__name__)

TMP_MARKER = ".tweakgui-tmp-"


class OutputError(InputError):
    """An output could not be written (directory not writable, disk full, ...).

    The message is one line naming the file and the cause.  The previous
    content of the target, if any, is intact.
    """


def _describe(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "disk full (no space left on device)"
    if exc.errno == errno.EDQUOT:
        return "disk quota exceeded"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EROFS:
        return "read-only file system"
    return exc.strerror or str(exc)


def check_writable_dir(path: str | os.PathLike, create: bool = False) -> Path:
    """Check that ``path`` is a directory where files can be created.

    Parameters
    ----------
    path : str or path-like
        The output directory.
    create : bool, optional
        Create the directory (and its parents) when it does not exist.

    Returns
    -------
    pathlib.Path
        The directory.

    Raises
    ------
    OutputError
        When the directory does not exist (and ``create`` is False), is not a
        directory, or a file cannot be created in it.  ``os.access`` is not
        trusted (it says yes to root on read-only mounts): a probe file is
        created and removed.
    """
    d = Path(path)
    if not d.exists():
        if not create:
            raise OutputError(f"output directory {d}: does not exist")
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"output directory {d}: cannot be created: {_describe(exc)}") from exc
    if not d.is_dir():
        raise OutputError(f"output directory {d}: is not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix="." + TMP_MARKER.strip("."), dir=d)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"output directory {d}: not writable: {_describe(exc)}") from exc
    return d


def _umask() -> int:
    # os.umask can only be read by setting it, which races with other threads
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(d: Path) -> None:
    # Makes the rename itself durable; not possible on every platform.
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path``.

    Use this when a library insists on a file name (``Table.write``,
    ``HDUList.writeto``).  The temporary file is fsync-ed before the rename.

    Raises
    ------
    OutputError
        When writing fails with an ``OSError`` (disk full, permission, ...).
    """
    target = Path(path)
    d = target.parent if str(target.parent) else Path(".")
    try:
        # keep the extension: libraries pick compression by name (.fits.gz)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}{TMP_MARKER}",
                                   suffix="".join(target.suffixes[-2:]), dir=d)
    except OSError as exc:
        raise OutputError(f"{target}: cannot create a file in {d}: {_describe(exc)}") from exc
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        fd = os.open(tmp_path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        # Keep the permissions of a file we replace; new files get the umask default.
        try:
            mode = os.stat(target).st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o666 & ~_umask()
        os.chmod(tmp_path, mode)
        os.replace(tmp_path, target)
        _fsync_dir(d)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        if isinstance(exc, OSError) and not isinstance(exc, InputError):
            raise OutputError(f"{target}: cannot write: {_describe(exc)}") from exc
        raise
    log.debug("wrote %s", target)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """Open a temporary file for writing; on success it atomically replaces ``path``.

    Parameters
    ----------
    path : str or path-like
        The target file.
    mode : {"wb", "w"}
        Binary or text mode.
    encoding : str, optional
        Text encoding (text mode; default UTF-8).

    Raises
    ------
    OutputError
        When writing fails with an ``OSError``; the target keeps its old
        content and the temporary file is removed.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', not {mode!r}")
    if mode == "w" and encoding is None:
        encoding = "utf-8"
    with atomic_path(path) as tmp:
        with open(tmp, mode, encoding=encoding) as fh:
            yield fh
            fh.flush()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Atomically write ``data`` to ``path``; return the path."""
    with atomic_write(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Atomically write ``text`` to ``path``; return the path."""
    with atomic_write(path, "w", encoding=encoding) as fh:
        fh.write(text)
    return Path(path)
