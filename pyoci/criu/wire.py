"""The protobuf wire format, just what CRIU's RPC needs (proto2, no packed fields).

A message is described by a table ``{name: (field number, kind, nested table)}``;
kinds are ``int32``, ``uint32``, ``bool``, ``enum``, ``string``, ``message`` and
their repeated forms (``[int32]``...).  ``encode`` takes a plain dict, ``decode``
returns one (unknown fields skipped, as protobuf does).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Table = dict[str, tuple[int, str, "Table | None"]]

VARINT = 0
I64 = 1
LEN = 2
I32 = 5

_VARINT_KINDS = ("int32", "uint32", "bool", "enum")


class WireError(ValueError):
    """Bytes that are not a valid message."""


def encode_varint(value: int) -> bytes:
    if value < 0:
        value &= (1 << 64) - 1  # int32/enum: negative numbers take ten bytes
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(data):
            raise WireError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise WireError("varint too long")


def _key(number: int, wire_type: int) -> bytes:
    return encode_varint(number << 3 | wire_type)


def _one(number: int, kind: str, sub: Table | None, value: Any) -> bytes:
    if kind in _VARINT_KINDS:
        if kind == "bool":
            value = 1 if value else 0
        elif not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"field {number}: {kind} wants an int, not {value!r}")
        return _key(number, VARINT) + encode_varint(int(value))
    if kind == "string":
        raw = value.encode() if isinstance(value, str) else bytes(value)
    elif kind == "message":
        assert sub is not None
        raw = encode(value, sub)
    else:
        raise TypeError(f"field {number}: unknown kind {kind!r}")
    return _key(number, LEN) + encode_varint(len(raw)) + raw


def encode(message: dict[str, Any], table: Table) -> bytes:
    """Fields in field-number order; None values are left out."""
    parts = []
    for name in sorted(message, key=lambda n: _lookup(table, n)[0]):
        value = message[name]
        if value is None:
            continue
        number, kind, sub = _lookup(table, name)
        if kind.startswith("["):
            for item in value:
                parts.append(_one(number, kind[1:-1], sub, item))
        else:
            parts.append(_one(number, kind, sub, value))
    return b"".join(parts)


def _lookup(table: Table, name: str) -> tuple[int, str, Table | None]:
    try:
        return table[name]
    except KeyError:
        raise KeyError(f"no field {name!r} in this message") from None


def decode(data: bytes, table: Table) -> dict[str, Any]:
    by_number = {number: (name, kind, sub) for name, (number, kind, sub) in table.items()}
    out: dict[str, Any] = {}
    pos = 0
    while pos < len(data):
        key, pos = decode_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == VARINT:
            raw_int, pos = decode_varint(data, pos)
            raw: Any = raw_int
        elif wire_type == LEN:
            size, pos = decode_varint(data, pos)
            if pos + size > len(data):
                raise WireError(f"field {number}: truncated")
            raw = data[pos : pos + size]
            pos += size
        elif wire_type == I64:
            raw, pos = data[pos : pos + 8], pos + 8
        elif wire_type == I32:
            raw, pos = data[pos : pos + 4], pos + 4
        else:
            raise WireError(f"field {number}: unsupported wire type {wire_type}")
        if pos > len(data):
            raise WireError(f"field {number}: truncated")
        field = by_number.get(number)
        if field is None:
            continue
        name, kind, sub = field
        repeated = kind.startswith("[")
        base = kind[1:-1] if repeated else kind
        value = _value(number, base, sub, wire_type, raw)
        if repeated:
            out.setdefault(name, []).append(value)
        else:
            out[name] = value
    return out


def _value(number: int, kind: str, sub: Table | None, wire_type: int, raw: Any) -> Any:
    want = VARINT if kind in _VARINT_KINDS else LEN
    if wire_type != want:
        raise WireError(f"field {number}: wire type {wire_type} for a {kind}")
    if kind == "bool":
        return bool(raw)
    if kind == "int32" or kind == "enum":
        raw &= (1 << 64) - 1
        if raw >= 1 << 63:
            raw -= 1 << 64
        return int(raw)
    if kind == "uint32":
        return int(raw) & 0xFFFFFFFF
    if kind == "string":
        return bytes(raw).decode(errors="replace")
    assert sub is not None
    return decode(bytes(raw), sub)
