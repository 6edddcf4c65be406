"""The parameters of one fitting stage (relative or absolute), read once by name."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Stage"]


@dataclass(frozen=True)
class Stage:
    """What the matcher and the fit of one stage are asked to do (arcsec where a length).

    ``Stage.of(params, "relative")`` reads TweakRegStep's names;
    ``"absolute"`` reads their ``abs_`` twins.  x/yoffset exist for the
    relative stage only, as in TweakRegStep.
    """

    kind: str
    searchrad: float
    separation: float
    tolerance: float
    use2dhist: bool
    xoffset: float
    yoffset: float
    fitgeometry: str
    nclip: int
    sigma: float
    minobj: int
    reject_large_corrections: float = 0.0

    @classmethod
    def of(cls, params, kind: str) -> "Stage":
        common = {"reject_large_corrections": float(getattr(params, "reject_large_corrections", 0.0))}
        if kind == "absolute":
            return cls(kind=kind, searchrad=float(params.abs_searchrad), separation=float(params.abs_separation),
                       tolerance=float(params.abs_tolerance), use2dhist=bool(params.abs_use2dhist),
                       xoffset=0.0, yoffset=0.0, fitgeometry=str(params.abs_fitgeometry),
                       nclip=int(params.abs_nclip), sigma=float(params.abs_sigma), minobj=int(params.abs_minobj),
                       **common)
        return cls(kind=kind, searchrad=float(params.searchrad), separation=float(params.separation),
                   tolerance=float(params.tolerance), use2dhist=bool(params.use2dhist),
                   xoffset=float(params.xoffset), yoffset=float(params.yoffset), fitgeometry=str(params.fitgeometry),
                   nclip=int(params.nclip), sigma=float(params.sigma), minobj=int(params.minobj), **common)

    @property
    def prefix(self) -> str:
        return "abs_" if self.kind == "absolute" else ""

    def max_correction(self) -> float:
        """Largest believable move of a footprint (arcsec): jwst's rule unless the user set one."""
        if self.reject_large_corrections > 0:
            return self.reject_large_corrections
        if self.use2dhist:
            return 2.0 * (self.searchrad + self.tolerance)
        return 2.0 * (max(abs(self.xoffset), abs(self.yoffset)) + self.tolerance)
