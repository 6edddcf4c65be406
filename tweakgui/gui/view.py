"""The passive view the session controller drives.

The controller calls only these methods; the main window implements them and a
test can stand in with ``Mock(spec=SessionView)``.
"""

from __future__ import annotations

__all__ = ["SessionView"]


class SessionView:
    """Interface of the main window as seen by :class:`SessionController`."""

    def show_visit(self, visit) -> None:
        """The list of exposures (order, groups, catalogs, status) changed."""

    def show_params(self, params) -> None:
        """The parameters changed (loaded, reset, offset picked)."""

    def show_busy(self, busy: bool, kind: str) -> None:
        """A job ("load", "run", "refit", "save") started (True) or ended (False)."""

    def show_progress(self, stage: str, done: int, total: int, message: str) -> None:
        """Progress of the running job."""

    def show_result(self, result) -> None:
        """A run finished with this VisitResult (None clears)."""

    def show_selection(self, name, chip_index: int) -> None:
        """The selected exposure (by name) and chip changed."""

    def show_match(self, key) -> None:
        """Highlight the match ``(image, chip, input_idx)`` (None clears)."""

    def show_regions(self, key, shapes) -> None:
        """Regions of ``(image, chip)`` to draw."""

    def show_error(self, title: str, message: str, details: str = "") -> None:
        """A failure: a dialog with the reason (and traceback details)."""

    def show_status(self, message: str) -> None:
        """A short message for the status bar."""

    def show_outcome(self, message: str) -> None:
        """What the last run gave (kept in the status bar until the next one)."""
