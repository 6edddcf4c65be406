"""Matching and fitting: coarse match, data-driven radius, fit, refinement and verdict.

Public API: :class:`Stage` (a stage's parameters), :func:`fit_group` (one
group against one reference list), :func:`offset_histogram` (the 2D
histogram of offsets, also drawn by the GUI), :func:`judge` (the verdict).
"""

from .group import ChipSources, GroupFit, fit_group
from .match import Histogram, candidate_offsets, offset_histogram
from .stage import Stage
from .verdict import chance_matches, judge

__all__ = ["Stage", "ChipSources", "GroupFit", "fit_group", "Histogram", "candidate_offsets", "offset_histogram",
           "chance_matches", "judge"]
