"""JSON without the ``json`` package.

``import json`` pulls in ``re`` and costs more than the rest of a ``state`` or
``kill`` command.  The C accelerators in ``_json`` do the real work for the
standard library; this module drives them directly.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class JSONError(ValueError):
    pass


def _constant(name: str) -> float:
    raise JSONError(f"invalid JSON constant {name}")


class _Context:
    __slots__ = (
        "memo",
        "object_hook",
        "object_pairs_hook",
        "parse_constant",
        "parse_float",
        "parse_int",
        "strict",
    )

    def __init__(self) -> None:
        self.strict = True
        self.object_hook = None
        self.object_pairs_hook = None
        self.parse_float = float
        self.parse_int = int
        self.parse_constant = _constant
        self.memo: dict[str, str] = {}


_scan = _json.make_scanner(_Context())  # type: ignore[arg-type]
_WS = " \t\n\r"


def _line_col(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    col = pos - text.rfind("\n", 0, pos)
    return f"line {line} column {col}"


def loads(text: str | bytes) -> Any:
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if text.startswith("\ufeff"):
        raise JSONError("unexpected UTF-8 BOM")
    pos = 0
    n = len(text)
    while pos < n and text[pos] in _WS:
        pos += 1
    try:
        value, end = _scan(text, pos)
    except StopIteration as exc:
        raise JSONError(f"expecting value at {_line_col(text, exc.value)}") from None
    except (ValueError, SystemError):
        # _json builds its error from json.decoder, which is not imported here
        # (SystemError "returned NULL without setting an exception"): only on
        # this error path, let the json package say what and where.
        import json

        try:
            json.loads(text)
        except ValueError as exc:
            raise JSONError(str(exc)) from None
        raise JSONError("invalid JSON") from None
    while end < n and text[end] in _WS:
        end += 1
    if end != n:
        raise JSONError(f"extra data at {_line_col(text, end)}")
    return value


def _default(o: object) -> object:
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


_compact = _json.make_encoder(
    None, _default, _json.encode_basestring, None, ":", ",", False, False, False
)


def dumps(obj: object) -> str:
    """Compact JSON, one line, non-ASCII kept as is."""
    return "".join(_compact(obj, 0))


def dumps_pretty(obj: object, indent: str = "  ", _level: int = 0) -> str:
    """Indented JSON like runc prints (``state``, ``spec``)."""
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        pad = indent * (_level + 1)
        items = [
            f"{pad}{_json.encode_basestring(str(k))}: {dumps_pretty(v, indent, _level + 1)}"
            for k, v in obj.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + indent * _level + "}"
    if isinstance(obj, list | tuple):
        if not obj:
            return "[]"
        pad = indent * (_level + 1)
        return (
            "[\n"
            + ",\n".join(pad + dumps_pretty(v, indent, _level + 1) for v in obj)
            + "\n"
            + indent * _level
            + "]"
        )
    return dumps(obj)
