"""Mustache-style ``{{variable}}`` rendering for prompts and greetings.

Only plain variable substitution is supported, which is what call ``variables`` feed.
Unknown placeholders are left as they are, so a missing variable is visible rather than silent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*\}\}")


def render(template: str, variables: Mapping[str, str]) -> str:
    """``template`` with every ``{{name}}`` whose name is in ``variables`` replaced."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        return variables[name] if name in variables else match.group(0)

    return _PLACEHOLDER.sub(substitute, template)


def placeholders(template: str) -> set[str]:
    """The variable names a template refers to."""
    return {match.group(1) for match in _PLACEHOLDER.finditer(template)}
