"""Desktop integration files: .desktop entry, AppStream metainfo and application icons."""

import configparser
import shutil
import struct
import subprocess
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import tweakgui

ROOT = Path(__file__).resolve().parents[1]
RES = ROOT / "resources"
DESKTOP = RES / "tweakgui.desktop"
APP_ID = "io.github.tweakgui"
METAINFO = RES / f"{APP_ID}.metainfo.xml"
ICONS = RES / "icons" / "app" / "hicolor"
PNG_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)


def _desktop_entry():
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case sensitive
    parser.read_string(DESKTOP.read_text(encoding="utf-8"))
    return parser["Desktop Entry"]


def _png_size(path):
    head = path.read_bytes()[:26]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert head[12:16] == b"IHDR"
    width, height, depth, colour_type = struct.unpack(">IIBB", head[16:26])
    return width, height, depth, colour_type


def test_desktop_entry_fields():
    entry = _desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Name"] == "tweakgui"
    assert entry["Icon"] == APP_ID
    assert entry["Terminal"] == "false"
    assert "Science" in entry["Categories"].split(";")
    # Exec must start the console script that pyproject installs
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert entry["Exec"].split()[0] in scripts


def test_desktop_entry_validates():
    if shutil.which("desktop-file-validate") is None:
        pytest.skip("desktop-file-validate not installed (Debian package desktop-file-utils)")
    proc = subprocess.run(["desktop-file-validate", str(DESKTOP)], capture_output=True, text=True)
    assert proc.returncode == 0 and "error" not in proc.stdout, proc.stdout + proc.stderr


def test_metainfo_is_consistent():
    root = ET.parse(METAINFO).getroot()
    assert root.tag == "component" and root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    launchable = root.find("launchable")
    assert launchable.get("type") == "desktop-id"
    assert (RES / launchable.text).is_file(), f"launchable {launchable.text} not in resources/"
    assert root.findtext("icon") == _desktop_entry()["Icon"]
    assert root.find("provides").findtext("binary") == "tweakgui"
    assert root.findtext("project_license") == "BSD-3-Clause"
    releases = [r.get("version") for r in root.iter("release")]
    assert tweakgui.__version__ in releases, "metainfo has no <release> for the current version"


def test_metainfo_validates():
    if shutil.which("appstreamcli") is None:
        pytest.skip("appstreamcli not installed (Debian package appstream)")
    proc = subprocess.run(["appstreamcli", "validate", "--no-net", str(METAINFO)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_scalable_icon_is_svg():
    svg = ICONS / "scalable" / "apps" / f"{APP_ID}.svg"
    root = ET.parse(svg).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox") == "0 0 256 256"


@pytest.mark.parametrize("size", PNG_SIZES)
def test_png_icon_sizes(size):
    png = ICONS / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
    width, height, depth, colour_type = _png_size(png)
    assert (width, height) == (size, size)
    assert (depth, colour_type) == (8, 6), "icons are 8-bit RGBA (transparent corners)"


def test_png_icon_pixels():
    """Rounded corners are transparent, the centre is opaque and the icon is not flat."""
    from PySide6.QtGui import QImage

    img = QImage(str(ICONS / "256x256" / "apps" / f"{APP_ID}.png"))
    assert img.width() == 256
    assert img.pixelColor(0, 0).alpha() == 0
    assert img.pixelColor(255, 255).alpha() == 0
    assert img.pixelColor(128, 128).alpha() == 255
    colours = {img.pixel(x, y) for x in range(0, 256, 8) for y in range(0, 256, 8)}
    assert len(colours) > 50
