"""Matching and fitting: coarse match, data-driven radius, fit, refinement and verdict.

- ``stage``: a stage's parameters (relative or absolute) without string prefixes.
- ``match``: the 2D offset histogram, its peak and the matching radius it sets.
- ``pattern``: triangle matching when the histogram finds no pointing.
- ``group``: one group's fit (coarse, refine, fewer degrees of freedom when degenerate).
- ``verdict``: whether chance could explain the match (the checks of a SUCCESS).
- ``correction``: an image's total correction from its starting and final WCS.
- ``align``: a stage over all groups of a visit; ``mosaic``: many groups in processes.
- ``residual_frames``: residuals in each chip's detector frame, for the GUI.

Public API: :class:`Stage` (a stage's parameters), :func:`fit_group` (one
group against one reference list), :func:`offset_histogram` (the 2D
histogram of offsets, also drawn by the GUI), :func:`judge` (the verdict), :func:`align_groups` (a stage over all groups).
"""

from tweakgui.engine.fit.group import ChipSources, GroupFit, fit_group
from tweakgui.engine.fit.match import Histogram, candidate_offsets, offset_histogram
from tweakgui.engine.fit.mosaic import align_groups
from tweakgui.engine.fit.stage import Stage
from tweakgui.engine.fit.verdict import chance_matches, judge

__all__ = ["align_groups", "Stage", "ChipSources", "GroupFit", "fit_group", "Histogram", "candidate_offsets", "offset_histogram",
           "chance_matches", "judge"]
