"""Parameters of a run: the spec (names, types, defaults, docs), files, aliases and limits.

The bottom of the engine with :mod:`tweakgui.engine.io`: every other stage
reads a :class:`TweakRegParams`.

- ``spec``: the parameter model (TweakRegStep names, tweakgui's additions).
- ``files``: TweakRegStep ASDF, drizzlepac ``.cfg`` and command-line overrides.
- ``aliases``: drizzlepac, CEERS and older jwst names translated.
- ``doc``: ``docs/parameters.md`` generated from the spec.
- ``limits``: values too large for memory or time, refused before a run.
"""

from tweakgui.engine.params.files import (
           load_params_file,
           parse_cli_overrides,
           resolve_params,
)
from tweakgui.engine.params.limits import check_limits
from tweakgui.engine.params.spec import (
           GROUPS,
           SPEC,
           SPEC_BY_NAME,
           ParameterError,
           TweakRegParams,
)

__all__ = ["TweakRegParams", "ParameterError", "SPEC", "SPEC_BY_NAME", "GROUPS", "load_params_file",
           "resolve_params", "parse_cli_overrides", "check_limits"]
