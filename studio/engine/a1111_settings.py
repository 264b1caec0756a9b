"""AUTOMATIC1111's settings line ('Steps: 25, Sampler: DPM++ 2M, ...'), read into its keys and values."""

from __future__ import annotations

import json
import re

_SETTING_KEY = re.compile(r"\s*(\w[\w \-/]*):\s*")
_QUOTED = re.compile(r'"(?:\\.|[^\\"])*"')


def settings_line(line: str) -> dict[str, str]:
    """'Key: value, Key: "quoted, value", ...' read left to right, without the backtracking that
    A1111's own regex needs (a long line without colons would take it minutes)."""
    settings: dict[str, str] = {}
    position = 0
    while position < len(line):
        key = _SETTING_KEY.match(line, position)
        if key is not None:
            position = key.end()
            quoted = _QUOTED.match(line, position)
            if quoted is not None:
                comma = _next_comma(line, quoted.end())
                if not line[quoted.end() : comma].strip():
                    settings[key.group(1).strip()] = _unquote(quoted.group())
                    position = comma + 1
                    continue
        comma = _next_comma(line, position)
        if key is not None:
            settings[key.group(1).strip()] = line[position:comma].strip()
        position = comma + 1
    return settings


def _next_comma(line: str, start: int) -> int:
    comma = line.find(",", start)
    return len(line) if comma < 0 else comma


def _unquote(quoted: str) -> str:
    try:
        value = json.loads(quoted)
    except ValueError:
        return quoted[1:-1]
    return value if isinstance(value, str) else quoted[1:-1]
