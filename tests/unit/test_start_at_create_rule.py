"""When create may start the container itself (``run``): only with a process,
no terminal, and no startContainer or poststart hook."""

from __future__ import annotations

from typing import Any

import pytest

from pyoci.ops.container import _can_start_at_create


@pytest.mark.parametrize(
    ("config", "direct"),
    [
        ({"process": {"args": ["true"]}}, True),
        ({"process": {"args": ["true"]}, "hooks": {"prestart": [{"path": "/x"}]}}, True),
        ({"process": {"args": ["true"]}, "hooks": {"createContainer": [{"path": "/x"}]}}, True),
        ({"process": {"args": ["true"]}, "hooks": {"poststop": [{"path": "/x"}]}}, True),
        ({"process": {"args": ["true"]}, "hooks": {"poststart": [{"path": "/x"}]}}, False),
        ({"process": {"args": ["true"]}, "hooks": {"startContainer": [{"path": "/x"}]}}, False),
        ({"process": {"args": ["sh"], "terminal": True}}, False),
        ({}, False),
    ],
)
def test_can_start_at_create(config: dict[str, Any], direct: bool) -> None:
    assert _can_start_at_create(config) is direct
