"""The D-Bus wire format: signatures, marshalling, messages (D-Bus specification 0.41,
"Message Protocol").

Values in Python: ``y n q i u x t h`` int, ``b`` bool, ``d`` float, ``s o g`` str, ``ay``
bytes, ``a{KV}`` dict, other arrays list, structs tuple, ``v`` a ``(signature, value)``
tuple.  Messages are written little-endian; both byte orders are read.  Anything malformed
(bad signature, truncated or oversized data, bad padding, bad UTF-8, wrong header field
types) raises :class:`~pyoci.dbus.DBusError`, never another exception.
"""

from __future__ import annotations

import _struct

from pyoci.dbus import DBusError

METHOD_CALL = 1
METHOD_RETURN = 2
ERROR = 3
SIGNAL = 4

NO_REPLY_EXPECTED = 0x1
NO_AUTO_START = 0x2

MAX_ARRAY = 1 << 26
MAX_MESSAGE = 1 << 27
_MAX_DEPTH = 32

_FIXED = {"y": "B", "b": "I", "n": "h", "q": "H", "i": "i", "u": "I", "x": "q", "t": "Q",
          "d": "d", "h": "I"}
_ALIGN = {"y": 1, "b": 4, "n": 2, "q": 2, "i": 4, "u": 4, "x": 8, "t": 8, "d": 8, "h": 4,
          "s": 4, "o": 4, "g": 1, "v": 1, "a": 4, "(": 8, "{": 8}
_RANGE = {"y": (0, 0xFF), "n": (-(1 << 15), (1 << 15) - 1), "q": (0, 0xFFFF),
          "i": (-(1 << 31), (1 << 31) - 1), "u": (0, 0xFFFFFFFF), "h": (0, 0xFFFFFFFF),
          "x": (-(1 << 63), (1 << 63) - 1), "t": (0, (1 << 64) - 1), "b": (0, 1)}
_SIZE = {"y": 1, "b": 4, "n": 2, "q": 2, "i": 4, "u": 4, "x": 8, "t": 8, "d": 8, "h": 4}
_BASIC = "ybnqiuxtdhsog"

# header field code -> (attribute, required signature)
_FIELDS = {1: ("path", "o"), 2: ("interface", "s"), 3: ("member", "s"),
           4: ("error_name", "s"), 5: ("reply_serial", "u"), 6: ("destination", "s"),
           7: ("sender", "s"), 8: ("signature", "g"), 9: ("unix_fds", "u")}


# ---------------------------------------------------------------- signatures

def _type_end(sig: str, i: int, arrays: int, structs: int) -> int:
    """Index just past the single complete type that starts at ``sig[i]``."""
    if i >= len(sig):
        raise DBusError(f"invalid D-Bus signature {sig!r}: incomplete type")
    c = sig[i]
    if c in _BASIC or c == "v":
        return i + 1
    if c == "a":
        if arrays >= _MAX_DEPTH:
            raise DBusError(f"invalid D-Bus signature {sig!r}: arrays nested too deep")
        if i + 1 < len(sig) and sig[i + 1] == "{":
            if structs >= _MAX_DEPTH:
                raise DBusError(f"invalid D-Bus signature {sig!r}: nested too deep")
            if i + 2 >= len(sig) or sig[i + 2] not in _BASIC:
                raise DBusError(f"invalid D-Bus signature {sig!r}: dict key must be basic")
            j = _type_end(sig, i + 3, arrays + 1, structs + 1)
            if j >= len(sig) or sig[j] != "}":
                raise DBusError(f"invalid D-Bus signature {sig!r}: bad dict entry")
            return j + 1
        return _type_end(sig, i + 1, arrays + 1, structs)
    if c == "(":
        if structs >= _MAX_DEPTH:
            raise DBusError(f"invalid D-Bus signature {sig!r}: structs nested too deep")
        j = i + 1
        if j < len(sig) and sig[j] == ")":
            raise DBusError(f"invalid D-Bus signature {sig!r}: empty struct")
        while j < len(sig) and sig[j] != ")":
            j = _type_end(sig, j, arrays, structs + 1)
        if j >= len(sig):
            raise DBusError(f"invalid D-Bus signature {sig!r}: unclosed struct")
        return j + 1
    raise DBusError(f"invalid D-Bus signature {sig!r}: unexpected {c!r}")


_split_cache: dict[str, tuple[str, ...]] = {}


def split_signature(sig: str) -> tuple[str, ...]:
    """The complete types of a signature: ``"sa(sv)"`` -> ``("s", "a(sv)")``."""
    cached = _split_cache.get(sig)
    if cached is not None:
        return cached
    if len(sig) > 255:
        raise DBusError("invalid D-Bus signature: longer than 255 characters")
    out = []
    i = 0
    while i < len(sig):
        j = _type_end(sig, i, 0, 0)
        out.append(sig[i:j])
        i = j
    result = tuple(out)
    if len(_split_cache) < 256:
        _split_cache[sig] = result
    return result


def _single(sig: str) -> str:
    types = split_signature(sig)
    if len(types) != 1:
        raise DBusError(f"variant signature {sig!r} is not a single complete type")
    return types[0]


def valid_object_path(path: str) -> bool:
    if path == "/":
        return True
    if not path.startswith("/") or path.endswith("/"):
        return False
    for part in path[1:].split("/"):
        if not part or not all(c.isascii() and (c.isalnum() or c == "_") for c in part):
            return False
    return True


# ---------------------------------------------------------------- marshalling

def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _write(buf: bytearray, t: str, value: object, depth: int = 0) -> None:
    c = t[0]
    fmt = _FIXED.get(c)
    if fmt is not None:
        if c == "d":
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise DBusError(f"cannot marshal {_short(value)} as D-Bus type 'd'")
            try:
                value = float(value)
            except OverflowError:  # an int beyond a double's range
                raise DBusError(f"cannot marshal {_short(value)} as D-Bus type 'd'") from None
        else:
            lo, hi = _RANGE[c]
            if not isinstance(value, int) or not lo <= value <= hi:
                raise DBusError(f"cannot marshal {_short(value)} as D-Bus type {c!r}")
        buf.extend(b"\0" * (-len(buf) % _ALIGN[c]))
        buf.extend(_struct.pack("<" + fmt, value))
        return
    if c in "so":
        bad_path = c == "o" and not (isinstance(value, str) and valid_object_path(value))
        if not isinstance(value, str) or "\0" in value or bad_path:
            raise DBusError(f"cannot marshal {_short(value)} as D-Bus type {c!r}")
        try:
            data = value.encode("utf-8", "strict")
        except UnicodeEncodeError:
            raise DBusError(f"cannot marshal {_short(value)}: not valid UTF-8 text") from None
        buf.extend(b"\0" * (-len(buf) % 4))
        buf.extend(_struct.pack("<I", len(data)))
        buf.extend(data)
        buf.append(0)
        return
    if c == "g":
        if not isinstance(value, str):
            raise DBusError(f"cannot marshal {_short(value)} as D-Bus type 'g'")
        split_signature(value)
        data = value.encode("ascii", "replace")
        buf.append(len(data))
        buf.extend(data)
        buf.append(0)
        return
    if depth > 2 * _MAX_DEPTH:
        raise DBusError("cannot marshal: value nested too deep")
    if c == "v":
        if not isinstance(value, tuple) or len(value) != 2 or not isinstance(value[0], str):
            raise DBusError(f"cannot marshal {_short(value)} as a variant: want (signature, value)")
        vt = _single(value[0])
        _write(buf, "g", vt)
        _write(buf, vt, value[1], depth + 1)
        return
    if c == "a":
        elem = t[1:]
        buf.extend(b"\0" * (-len(buf) % 4))
        at = len(buf)
        buf.extend(b"\0\0\0\0")
        buf.extend(b"\0" * (-len(buf) % _ALIGN[elem[0]]))
        start = len(buf)
        if elem == "y" and isinstance(value, (bytes, bytearray)):
            buf.extend(value)
        elif elem[0] == "{":
            kt, vt = split_signature(elem[1:-1])
            if isinstance(value, dict):
                items: list[object] | tuple[object, ...] = list(value.items())
            elif isinstance(value, (list, tuple)):
                items = value
            else:
                raise DBusError(f"cannot marshal {_short(value)} as D-Bus type {t!r}")
            for entry in items:
                if not isinstance(entry, tuple) or len(entry) != 2:
                    raise DBusError(f"cannot marshal {_short(entry)} as a dict entry of {t!r}")
                buf.extend(b"\0" * (-len(buf) % 8))
                _write(buf, kt, entry[0], depth + 1)
                _write(buf, vt, entry[1], depth + 1)
        else:
            if not isinstance(value, (list, tuple)):
                raise DBusError(f"cannot marshal {_short(value)} as D-Bus type {t!r}")
            for item in value:
                _write(buf, elem, item, depth + 1)
        size = len(buf) - start
        if size > MAX_ARRAY:
            raise DBusError(f"cannot marshal: array of {size} bytes exceeds 64 MiB")
        _struct.pack_into("<I", buf, at, size)
        return
    if c == "(":
        fields = split_signature(t[1:-1])
        if not isinstance(value, (tuple, list)) or len(value) != len(fields):
            raise DBusError(f"cannot marshal {_short(value)} as D-Bus type {t!r}")
        buf.extend(b"\0" * (-len(buf) % 8))
        for ft, item in zip(fields, value, strict=True):
            _write(buf, ft, item, depth + 1)
        return
    raise DBusError(f"cannot marshal D-Bus type {t!r}")


def marshal(signature: str, values: list[object] | tuple[object, ...],
            buf: bytearray | None = None) -> bytearray:
    """Append ``values`` (one per complete type of ``signature``) to ``buf`` (aligned to
    offsets within ``buf``, which must start at an 8-byte boundary of the message)."""
    types = split_signature(signature)
    if len(types) != len(values):
        raise DBusError(f"signature {signature!r} wants {len(types)} values, got {len(values)}")
    out = bytearray() if buf is None else buf
    for t, v in zip(types, values, strict=True):
        _write(out, t, v)
    return out


# ---------------------------------------------------------------- unmarshalling

class _Reader:
    __slots__ = ("data", "end", "fmt", "pos")

    def __init__(self, data: bytes, pos: int, end: int, fmt: str) -> None:
        self.data = data
        self.pos = pos
        self.end = end
        self.fmt = fmt

    def align(self, n: int) -> None:
        pad = -self.pos % n
        if pad:
            if self.pos + pad > self.end:
                raise DBusError("malformed D-Bus message: truncated")
            if any(self.data[self.pos:self.pos + pad]):
                raise DBusError("malformed D-Bus message: non-zero padding")
            self.pos += pad

    def fixed(self, c: str) -> int | float:
        self.align(_ALIGN[c])
        fmt = _FIXED[c]
        size = _SIZE[c]
        if self.pos + size > self.end:
            raise DBusError("malformed D-Bus message: truncated")
        value: int | float = _struct.unpack_from(self.fmt + fmt, self.data, self.pos)[0]
        self.pos += size
        return value

    def string(self, size: int) -> str:
        start = self.pos
        if start + size + 1 > self.end or self.data[start + size] != 0:
            raise DBusError("malformed D-Bus message: bad string")
        raw = self.data[start:start + size]
        if b"\0" in raw:
            raise DBusError("malformed D-Bus message: NUL in a string")
        try:
            text = raw.decode("utf-8", "strict")
        except UnicodeDecodeError:
            raise DBusError("malformed D-Bus message: string is not UTF-8") from None
        self.pos = start + size + 1
        return text

    def read(self, t: str, depth: int = 0) -> object:
        c = t[0]
        if c in _FIXED:
            value = self.fixed(c)
            if c == "b":
                if value not in (0, 1):
                    raise DBusError("malformed D-Bus message: boolean not 0 or 1")
                return bool(value)
            return value
        if c in "so":
            text = self.string(int(self.fixed("u")))
            if c == "o" and not valid_object_path(text):
                raise DBusError("malformed D-Bus message: bad object path")
            return text
        if c == "g":
            text = self.string(int(self.fixed("y")))
            split_signature(text)
            return text
        if depth > 2 * _MAX_DEPTH:
            raise DBusError("malformed D-Bus message: nested too deep")
        if c == "v":
            vt = self.read("g")
            assert isinstance(vt, str)
            vt = _single(vt)
            return (vt, self.read(vt, depth + 1))
        if c == "a":
            size = int(self.fixed("u"))
            if size > MAX_ARRAY:
                raise DBusError("malformed D-Bus message: array longer than 64 MiB")
            elem = t[1:]
            self.align(_ALIGN[elem[0]])
            end = self.pos + size
            if end > self.end:
                raise DBusError("malformed D-Bus message: truncated array")
            if elem == "y":
                self.pos = end
                return bytes(self.data[end - size:end])
            if elem[0] == "{":
                kt, vt = split_signature(elem[1:-1])
                result: dict[object, object] = {}
                while self.pos < end:
                    self.align(8)
                    key = self.read(kt, depth + 1)
                    result[key] = self.read(vt, depth + 1)
                if self.pos != end:
                    raise DBusError("malformed D-Bus message: array length mismatch")
                return result
            items = []
            while self.pos < end:
                items.append(self.read(elem, depth + 1))
            if self.pos != end:
                raise DBusError("malformed D-Bus message: array length mismatch")
            return items
        if c == "(":
            self.align(8)
            return tuple(self.read(ft, depth + 1) for ft in split_signature(t[1:-1]))
        raise DBusError(f"malformed D-Bus message: cannot read type {t!r}")


def unmarshal(signature: str, data: bytes, *, big_endian: bool = False) -> tuple[object, ...]:
    """The values of ``signature`` in ``data`` (offset 0 = an 8-byte boundary); all of
    ``data`` must be used."""
    r = _Reader(data, 0, len(data), ">" if big_endian else "<")
    values = tuple(r.read(t) for t in split_signature(signature))
    if r.pos != len(data):
        raise DBusError("malformed D-Bus data: trailing bytes")
    return values


# ---------------------------------------------------------------- messages

class Message:
    """One D-Bus message; ``body`` holds the values of ``signature``."""

    __slots__ = ("body", "destination", "error_name", "flags", "interface", "member", "path",
                 "reply_serial", "sender", "serial", "signature", "type", "unix_fds")

    def __init__(self, type: int, *, path: str | None = None, interface: str | None = None,
                 member: str | None = None, error_name: str | None = None,
                 reply_serial: int | None = None, destination: str | None = None,
                 sender: str | None = None, signature: str = "",
                 body: tuple[object, ...] = (), flags: int = 0, serial: int = 0) -> None:
        self.type = type
        self.flags = flags
        self.serial = serial
        self.path = path
        self.interface = interface
        self.member = member
        self.error_name = error_name
        self.reply_serial = reply_serial
        self.destination = destination
        self.sender = sender
        self.signature = signature
        self.body = body
        self.unix_fds: int | None = None

    def __repr__(self) -> str:
        kind = {1: "call", 2: "return", 3: "error", 4: "signal"}.get(self.type, str(self.type))
        return (f"<Message {kind} serial={self.serial} reply_serial={self.reply_serial} "
                f"{self.interface}.{self.member} {self.error_name or ''} "
                f"sig={self.signature!r} body={_short(self.body)}>")

    def encode(self, serial: int) -> bytes:
        """The message on the wire (little-endian) with ``serial``."""
        if not 0 < serial <= 0xFFFFFFFF:
            raise DBusError(f"bad D-Bus serial {serial}")
        body = marshal(self.signature, self.body)
        fields: list[tuple[int, tuple[str, object]]] = []
        for code, (attr, sig) in _FIELDS.items():
            value = getattr(self, attr)
            if value is not None and not (code == 8 and value == ""):
                fields.append((code, (sig, value)))
        head = bytearray(b"l")
        head.extend(_struct.pack("<BBBII", self.type, self.flags, 1, len(body), serial))
        marshal("a(yv)", [fields], head)
        head.extend(b"\0" * (-len(head) % 8))
        if len(head) + len(body) > MAX_MESSAGE:
            raise DBusError("D-Bus message longer than 128 MiB")
        head.extend(body)
        return bytes(head)


def message_length(fixed: bytes) -> int:
    """Total length of the message whose first 16 bytes are ``fixed``."""
    if len(fixed) < 16:
        raise DBusError("malformed D-Bus message: short header")
    if fixed[0] == ord("l"):
        fmt = "<"
    elif fixed[0] == ord("B"):
        fmt = ">"
    else:
        raise DBusError(f"malformed D-Bus message: bad byte order {fixed[0]:#x}")
    if fixed[3] != 1:
        raise DBusError(f"malformed D-Bus message: protocol version {fixed[3]}")
    body_len, _serial, fields_len = _struct.unpack_from(fmt + "III", fixed, 4)
    if fields_len > MAX_ARRAY:
        raise DBusError("malformed D-Bus message: header fields longer than 64 MiB")
    total: int = 16 + fields_len + (-fields_len % 8) + body_len
    if total > MAX_MESSAGE:
        raise DBusError(f"malformed D-Bus message: {total} bytes exceeds 128 MiB")
    return total


def decode(data: bytes) -> Message:
    """Parse one complete message (exactly ``message_length(data)`` bytes)."""
    total = message_length(data)
    if len(data) != total:
        raise DBusError("malformed D-Bus message: length mismatch")
    fmt = "<" if data[0] == ord("l") else ">"
    mtype, flags = data[1], data[2]
    body_len, serial = _struct.unpack_from(fmt + "II", data, 4)
    if serial == 0:
        raise DBusError("malformed D-Bus message: serial 0")
    r = _Reader(data, 12, total - body_len, fmt)
    raw_fields = r.read("a(yv)")
    r.align(8)
    if r.pos != total - body_len:
        raise DBusError("malformed D-Bus message: header length mismatch")
    msg = Message(mtype, flags=flags, serial=serial)
    assert isinstance(raw_fields, list)
    for code, (sig, value) in raw_fields:
        known = _FIELDS.get(code)
        if known is None:
            continue  # unknown fields must be ignored
        if sig != known[1]:
            raise DBusError(f"malformed D-Bus message: header field {code} has type {sig!r}")
        setattr(msg, known[0], value)
    if msg.type == METHOD_CALL and (msg.path is None or msg.member is None):
        raise DBusError("malformed D-Bus message: method call without path or member")
    if msg.type == SIGNAL and (msg.path is None or msg.member is None or msg.interface is None):
        raise DBusError("malformed D-Bus message: signal without path, interface or member")
    if msg.type == ERROR and (msg.error_name is None or msg.reply_serial is None):
        raise DBusError("malformed D-Bus message: error without name or reply serial")
    if msg.type == METHOD_RETURN and msg.reply_serial is None:
        raise DBusError("malformed D-Bus message: reply without reply serial")
    body = _Reader(data, total - body_len, total, fmt)
    msg.body = tuple(body.read(t) for t in split_signature(msg.signature))
    if body.pos != total:
        raise DBusError("malformed D-Bus message: body length does not match its signature")
    return msg
