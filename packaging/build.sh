#!/usr/bin/env bash
# Build the one-folder Linux application with PyInstaller.
#
#   packaging/build.sh [DIST_DIR]     (default: ./dist)
#
# Prints the path of the frozen executable on the last line of stdout.
# Intermediate files go to a temporary directory, never into the source tree.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIST="${1:-dist}"
PYTHON="${PYTHON:-python3}"
mkdir -p "$DIST"
DIST="$(cd "$DIST" && pwd)"

if ! "$PYTHON" -c "import PyInstaller" 2>/dev/null; then
    echo "PyInstaller not found; installing it" >&2
    "$PYTHON" -m pip install --quiet "pyinstaller>=6.5"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/tweakgui-build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

"$PYTHON" -m PyInstaller --noconfirm --log-level WARN \
    --distpath "$DIST" --workpath "$WORK" \
    "$HERE/tweakgui.spec" >&2

EXE="$DIST/tweakgui/tweakgui"
if [ ! -x "$EXE" ]; then
    echo "build.sh: build finished but $EXE is missing" >&2
    exit 1
fi

# Desktop integration beside the app, in the XDG layout: copy share/ into ~/.local
# (or /usr/local) and put the executable on PATH to get a menu entry with its icon.
RES="$HERE/../resources"
SHARE="$DIST/tweakgui/share"
mkdir -p "$SHARE/applications" "$SHARE/metainfo" "$SHARE/icons"
cp "$RES/tweakgui.desktop" "$SHARE/applications/"
cp "$RES/io.github.tweakgui.metainfo.xml" "$SHARE/metainfo/"
cp -r "$RES/icons/app/hicolor" "$SHARE/icons/"
echo "$EXE"
