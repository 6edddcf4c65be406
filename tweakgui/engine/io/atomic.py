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
import threading
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
    "file_version",
    "transaction",
    "Transaction",
    "remove_live_temporaries",
]

log = logging.getLogger(__name__)

TMP_MARKER = ".tweakgui-tmp-"


class OutputError(InputError):
    """An output could not be written (directory not writable, disk full, ...).

    The message is one line naming the file and the cause.  The previous
    content of the target, if any, is intact.
    """


def _describe(exc: OSError) -> str:
    # astropy reports a full disk as a plain OSError("Not enough space on disk: ...")
    if exc.errno == errno.ENOSPC or "space on disk" in str(exc).lower():
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
    from tweakgui.engine.interrupts import deferred

    try:
        with deferred():  # a signal between create and unlink would leave the probe behind
            fd, probe = tempfile.mkstemp(prefix="." + TMP_MARKER.strip("."), dir=d)
            try:
                os.close(fd)
            finally:
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


def _keep_owner(tmp: Path, target: Path, st: os.stat_result) -> None:
    """Give ``tmp`` the owner and group of the file it will replace (then its mode)."""
    mine = os.stat(tmp)
    if (mine.st_uid, mine.st_gid) != (st.st_uid, st.st_gid):
        try:
            os.chown(tmp, st.st_uid, st.st_gid)
        except PermissionError:
            who = "owner" if mine.st_uid != st.st_uid else "group"
            raise OutputError(f"{target}: owned by uid {st.st_uid} gid {st.st_gid}; replacing it "
                              f"would change its {who} (run as that user)") from None
    # after chown, which clears set-id bits
    os.chmod(tmp, st.st_mode & 0o7777)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, verify=None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path``.

    Use this when a library insists on a file name (``Table.write``,
    ``HDUList.writeto``).  The temporary file is fsync-ed before the rename.
    A replaced file keeps its owner, group and mode.  ``verify(tmp)``, if
    given, checks the new file before it may replace anything.  Inside a
    :func:`transaction` the rename waits for the transaction's commit.

    Raises
    ------
    OutputError
        When writing fails with an ``OSError`` (disk full, permission, ...),
        or the replaced file's owner cannot be kept.
    """
    target = Path(path)
    d = target.parent if str(target.parent) else Path(".")
    tmp_path = _temporary_beside(target, d)
    try:
        yield tmp_path
        if verify is not None:
            verify(tmp_path)
        _commit(tmp_path, target, d)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        _live.discard(tmp_path)
        if isinstance(exc, OSError) and not isinstance(exc, InputError):
            raise OutputError(f"{target}: cannot write: {_describe(exc)}") from exc
        raise
    if _current_transaction() is None:
        _live.discard(tmp_path)
        log.debug("wrote %s", target)


def _temporary_beside(target: Path, d: Path) -> Path:
    """An empty temporary file in ``d`` named after ``target``, registered for clean-up."""
    from tweakgui.engine.interrupts import deferred

    # a signal between mkstemp and the registration would leave the file behind
    with deferred():
        try:
            # keep the extension: libraries pick compression by name (.fits.gz)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}{TMP_MARKER}",
                                       suffix="".join(target.suffixes[-2:]), dir=d)
        except OSError as exc:
            raise OutputError(f"{target}: cannot create a file in {d}: {_describe(exc)}") from exc
        os.close(fd)
        _live.add(Path(tmp))
    return Path(tmp)


def _commit(tmp_path: Path, target: Path, d: Path) -> None:
    """fsync the new file, give it the replaced file's owner and mode, rename it (or stage it)."""
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    # Keep the owner and permissions of a file we replace; new files get the umask default.
    try:
        st = os.stat(target)
    except FileNotFoundError:
        os.chmod(tmp_path, 0o666 & ~_umask())
    else:
        _keep_owner(tmp_path, target, st)
    tx = _current_transaction()
    if tx is not None:
        tx.stage(tmp_path, target)
    else:
        os.replace(tmp_path, target)
        _fsync_dir(d)


# temporary files of this process not yet renamed: removed on any way out
_live: set[Path] = set()
_tx_local = threading.local()


def _current_transaction():
    return getattr(_tx_local, "tx", None)


class Transaction:
    """Files written under one :func:`transaction`: staged beside their targets, swapped in together."""

    def __init__(self):
        self.staged: dict[Path, Path] = {}  # target -> temporary file

    def stage(self, tmp: Path, target: Path) -> None:
        key = Path(os.path.abspath(target))
        old = self.staged.pop(key, None)
        if old is not None:  # written twice in one run: the last version counts
            with contextlib.suppress(OSError):
                old.unlink()
            _live.discard(old)
        self.staged[key] = tmp

    @property
    def targets(self) -> list[Path]:
        return list(self.staged)

    def abort(self) -> None:
        for tmp in self.staged.values():
            with contextlib.suppress(OSError):
                tmp.unlink()
            _live.discard(tmp)
        self.staged.clear()

    def commit(self) -> None:
        """Swap every staged file in; on a failure, put back the files already swapped.

        Each replaced file is first hard-linked to a backup name, so that a
        failing rename half-way can be undone.  Signals are blocked meanwhile
        (renames take microseconds).
        """
        from tweakgui.engine.interrupts import blocked

        done: list[tuple[Path, Path | None]] = []
        with blocked():
            try:
                for target, tmp in self.staged.items():
                    backup = None
                    if os.path.lexists(target):
                        backup = tmp.with_name(tmp.name + "-old")
                        try:
                            os.link(target, backup)
                        except OSError:  # no hard links here: no undo for this one
                            backup = None
                    try:
                        os.replace(tmp, target)
                    except OSError as exc:
                        if backup is not None:
                            with contextlib.suppress(OSError):
                                backup.unlink()
                        raise OutputError(f"{target}: cannot write: {_describe(exc)}") from exc
                    done.append((target, backup))
            except BaseException:
                for target, backup in reversed(done):
                    if backup is not None:
                        with contextlib.suppress(OSError):
                            os.replace(backup, target)
                self.abort()
                raise
            finally:
                for _, backup in done:
                    if backup is not None:
                        with contextlib.suppress(OSError):
                            backup.unlink()
        for d in {t.parent for t in self.staged}:
            _fsync_dir(d)
        for target, tmp in self.staged.items():
            _live.discard(tmp)
            log.debug("wrote %s", target)
        self.staged.clear()


@contextlib.contextmanager
def transaction(cancel=None) -> Iterator[Transaction]:
    """All files written by :func:`atomic_path` in the block appear together, or none does.

    Each file is written (and verified) beside its target; the targets are
    replaced only when the block ends without an exception and ``cancel``
    (a ``threading.Event``) is not set.  Otherwise every temporary file is
    removed and every target keeps its old bytes.  Writers in the block must
    not read back a file they wrote (it is not there yet).
    """
    from tweakgui.engine.interrupts import check

    if _current_transaction() is not None:  # nested: the outer one commits
        yield _current_transaction()
        return
    tx = Transaction()
    _tx_local.tx = tx
    try:
        yield tx
        check()
        if cancel is not None and cancel.is_set():
            from tweakgui.engine.model import Cancelled

            raise Cancelled("cancelled before the files were replaced")
        _tx_local.tx = None
        tx.commit()
    except BaseException:
        tx.abort()
        raise
    finally:
        _tx_local.tx = None


def remove_live_temporaries() -> int:
    """Remove this process's temporary files that were never renamed (after an interrupt)."""
    n = 0
    for tmp in list(_live):
        with contextlib.suppress(OSError):
            tmp.unlink()
            n += 1
        _live.discard(tmp)
    return n


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


def file_version(path) -> tuple | None:
    """A file as it is now, or None: its absolute path, size, mtime, inode and device.

    The key of what was read from it: a rewrite, or a replacement renamed over it
    (as :func:`atomic_write` does), is another version.
    """
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (os.path.abspath(path), st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)
