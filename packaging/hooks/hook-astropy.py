"""Replaces the contributed astropy hook for our build.

The contributed hook imports every astropy submodule; with pytest installed but not
matplotlib, ``astropy.visualization.wcsaxes`` raises pytest's ``Skipped`` (a
BaseException) and the build aborts. tweakgui uses neither wcsaxes nor astropy's tests.
"""

from PyInstaller.utils.hooks import collect_data_files, collect_submodules, copy_metadata


def _wanted(name):
    return not (".tests" in name or name.startswith("astropy.visualization.wcsaxes")
                or name.endswith(".conftest"))


datas = collect_data_files("astropy", excludes=["**/tests/**"])
# ply parser tables are read as files, not imported
datas += [
    (src, dest)
    for src, dest in collect_data_files("astropy", include_py_files=True)
    if src.endswith(("_parsetab.py", "_lextab.py"))
]
datas += copy_metadata("astropy") + copy_metadata("numpy")
hiddenimports = collect_submodules("astropy", filter=_wanted) + ["numpy.lib.recfunctions"]
