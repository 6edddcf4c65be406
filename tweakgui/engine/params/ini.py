"""Reading and writing the INI text of cfg parameter files (no parameter semantics)."""

from __future__ import annotations

import configparser
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tweakgui.engine.model import InputError
from tweakgui.engine.params.spec import SPEC, ParameterError

_HEADER = re.compile(r"^\s*\[(?P<name>[^\]]+)\]\s*$")
_ROOT = "__root__"


@dataclass
class IniFile:
    """The sections of one cfg file; keys before the first section apply to all."""

    path: Path
    sections: list[str]
    teal: bool = False
    data: dict[str, dict[str, str]] = field(default_factory=dict)
    root: dict[str, str] = field(default_factory=dict)

    def chosen(self, section: str | None) -> str:
        """The section to read: ``section`` or the only one; errors name the file."""
        if self.teal:
            return self.sections[0]
        if section is None:
            if len(self.sections) == 1:
                return self.sections[0]
            if not self.sections:
                return ""
            raise ParameterError(
                f"{self.path}: several sections, choose one of: {', '.join(self.sections)}")
        if section not in self.sections:
            have = ", ".join(self.sections) or "none"
            raise ParameterError(f"{self.path}: no section [{section}] (sections: {have})")
        return section

    def values(self, section: str | None = None) -> dict[str, str]:
        """Raw string values of a section merged over the sectionless keys."""
        name = self.chosen(section)
        if self.teal:
            merged = dict(self.root)
            for values in self.data.values():
                merged.update(values)
            return merged
        return {**self.root, **self.data.get(name, {})}


def read(path) -> IniFile:
    """Parse a cfg file; a missing or malformed file raises InputError naming it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: parameter file not found")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    lines = text.splitlines()
    first = next((i for i, ln in enumerate(lines) if _HEADER.match(ln)), len(lines))
    if any(ln.strip() and ln.strip()[0] not in "#;" for ln in lines[:first]):
        text = f"[{_ROOT}]\n{text}"
    parser = configparser.ConfigParser(
        interpolation=None, inline_comment_prefixes=("#", ";"), comment_prefixes=("#", ";"),
        default_section="DEFAULT", strict=True)
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        msg = " ".join(str(exc).split())
        raise InputError(f"{path}: not a valid cfg file ({msg})") from None
    data = {s.strip(): {k: _unquote(v) for k, v in parser[s].items()} for s in parser.sections()}
    root = {**{k: _unquote(v) for k, v in parser.defaults().items()}, **data.pop(_ROOT, {})}
    task = root.get("_task_name_", "").strip()
    if task:
        rules = [s for s in data if s.strip("_ ").upper() == "RULES"]
        for s in rules:
            del data[s]
        return IniFile(path, [task], teal=True, data=data, root=root)
    return IniFile(path, list(data), data=data, root=root)


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def format_value(name: str, value: Any) -> str:
    """A parameter value as cfg text that reads back to the same value."""
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ", ".join(repr(float(v)) for v in value)
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if "\n" in text or " #" in text or " ;" in text or text != text.strip():
        raise ParameterError(f"{name}: value {text!r} cannot be written to a cfg file")
    return text


def format_section(section: str, values: dict[str, Any]) -> str:
    """``[section]`` followed by every parameter, grouped as in SPEC."""
    width = max(len(s.name) for s in SPEC)
    out = [f"[{section}]"]
    group = None
    for spec in SPEC:
        if spec.name not in values:
            continue
        if spec.group != group:
            group = spec.group
            out.append(f"# {group}")
        text = format_value(spec.name, values[spec.name])
        out.append(f"{spec.name:<{width}} = {text}".rstrip())
    return "\n".join(out) + "\n"


def replace_section(text: str, section: str, body: str) -> str:
    """``text`` with section ``section`` replaced by ``body`` (or ``body`` appended)."""
    lines = text.splitlines(keepends=True)
    start = end = None
    for i, line in enumerate(lines):
        m = _HEADER.match(line)
        if not m:
            continue
        if start is not None and end is None:
            end = i
        if m.group("name").strip() == section:
            start, end = i, None
    if start is None:
        head = "".join(lines)
        if head and not head.endswith("\n"):
            head += "\n"
        sep = "\n" if head.strip() else ""
        return (head + sep + body) if head.strip() else body
    end = len(lines) if end is None else end
    tail = "".join(lines[end:])
    return "".join(lines[:start]) + body + ("\n" + tail if tail else "")
