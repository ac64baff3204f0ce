"""SemVer 2.0.0 precedence, for the ``ociVersion`` and feature version checks."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def semver_key(version: object) -> tuple[Any, ...]:
    """A sort key with SemVer 2.0.0 precedence (build metadata ignored).

    ``version`` is assumed to match the schema's semver pattern; anything else
    sorts first.
    """
    if not isinstance(version, str):
        return ((-1, -1, -1), (0,), ())
    core, _, pre = version.split("+", 1)[0].partition("-")
    try:
        major, minor, patch = (int(p) for p in core.split("."))
    except ValueError:
        return ((-1, -1, -1), (0,), ())
    if not pre:
        # A release has higher precedence than any of its pre-releases.
        return ((major, minor, patch), (1,), ())
    ids = tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split("."))
    return ((major, minor, patch), (0,), ids)
