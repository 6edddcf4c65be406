"""The generated parameter reference stays in step with the parameter model."""

from pathlib import Path

from tweakgui.engine.params.aliases import DRIZZLEPAC_ALIASES
from tweakgui.engine.params.doc import REGENERATE, render_parameter_reference
from tweakgui.engine.params.spec import SPEC

DOC = Path(__file__).resolve().parents[3] / "docs" / "parameters.md"


def test_docs_parameters_md_is_up_to_date():
    expected = render_parameter_reference()
    actual = DOC.read_text() if DOC.is_file() else ""
    assert actual == expected, f"docs/parameters.md is out of date; regenerate it with: {REGENERATE}"


def _rows(text):
    return {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[1:-1]]
            for line in text.splitlines() if line.startswith("| `")}


def test_every_parameter_has_a_row_with_default_and_meaning():
    text = render_parameter_reference()
    rows = _rows(text[:text.index("## Parameter files")])
    for spec in SPEC:
        key = next(k for k in rows if k.split()[0] == f"`{spec.name}`")
        name, typ, default, allowed, meaning = rows[key]
        assert meaning.startswith(spec.doc.rstrip(".")), spec.name
    assert rows["`snr_threshold`"][1:4] == ["float", "`10.0`", "> 0"]
    assert rows["`connectivity`"][3] == "`4`, `8`"
    assert rows["`sip_degree`"][2:4] == ["`None`", ">= 1, <= 6 or `None`"]
    assert rows["`wcsname` *tweakgui*"][2] == "`TWEAK`"


def test_migration_table():
    text = render_parameter_reference()
    section = text[text.index("## Migration"):text.index("## Other names")]
    rows = {r[0]: r[1:] for r in _rows(section).values()}
    assert len(rows) == len(DRIZZLEPAC_ALIASES)
    assert rows["`conv_width`"][:2] == ["`kernel_fwhm`", "`kernel_fwhm`"]
    assert rows["`threshold`"][:2] == ["`snr_threshold`", "`snr_threshold`"]
    assert rows["`refcat`"][:2] == ["`abs_refcat`", "`abs_refcat`"]
    assert rows["`updatehdr`"][:2] == ["n/a", "`--in_place`"]
    assert rows["`shiftfile`"][:2] == ["n/a", "always written"]
    assert rows["`exclusions`"][:2] == ["n/a", "`exclusions`"]
    assert rows["`wcsname`"][:2] == ["n/a", "`wcsname`"]
    assert "pixels in drizzlepac" in rows["`tolerance`"][2]
    for name in ("peakmax", "searchrad", "separation", "minobj", "fitgeometry", "nclip", "sigma",
                 "use2dhist", "xoffset", "yoffset", "writecat", "headerlet", "outshifts"):
        assert f"`{name}`" in rows
