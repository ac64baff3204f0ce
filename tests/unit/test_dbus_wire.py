"""The D-Bus wire format (pyoci.dbus.wire): known encodings, round trips, alignment, malformed
input, unit path escaping, addresses and the package's import cost."""

from __future__ import annotations

import subprocess
import sys
import sysconfig

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyoci.dbus import DBusError
from pyoci.dbus.connection import parse_address
from pyoci.dbus.systemd1 import parse_version, unit_path
from pyoci.dbus.wire import (
    METHOD_CALL,
    Message,
    decode,
    marshal,
    message_length,
    split_signature,
    unmarshal,
)

# ---------------------------------------------------------------- known encodings

# A StartTransientUnit call as runc sends it, serial 7.  Produced by an independent
# implementation (jeepney 0.9.0: new_method_call(...).serialise(serial=7)) and accepted by
# dbus-daemon 1.14 in tests/integration/test_dbus_daemon.py.
START_BODY = (
    "runc-x.scope",
    "replace",
    [
        ("Description", ("s", "libcontainer container x")),
        ("Slice", ("s", "system.slice")),
        ("Delegate", ("b", True)),
        ("PIDs", ("au", [1234])),
        ("MemoryMax", ("t", 1 << 30)),
        ("AllowedCPUs", ("ay", b"\x0f\x00\x00\x00\x03")),
        ("DeviceAllow", ("a(ss)", [("/dev/null", "rwm"), ("char-pts", "rwm")])),
    ],
    [],
)
START_WIRE = bytes.fromhex(
    "6c0100015001000007000000b600000001016f00190000002f6f72672f667265656465736b746f70"
    "2f73797374656d64310000000000000002017300200000006f72672e667265656465736b746f702e"
    "73797374656d64312e4d616e61676572000000000000000003017300120000005374617274547261"
    "6e7369656e74556e697400000000000006017300180000006f72672e667265656465736b746f702e"
    "73797374656d64310000000000000000080167001073736128737629612873612873762929000000"
    "0c00000072756e632d782e73636f706500000000070000007265706c616365002001000000000000"
    "0b0000004465736372697074696f6e0001730000180000006c6962636f6e7461696e657220636f6e"
    "7461696e65722078000000000000000005000000536c696365000173000000000c00000073797374"
    "656d2e736c69636500000000000000000800000044656c6567617465000162000100000000000000"
    "0400000050494473000261750000000004000000d2040000090000004d656d6f72794d6178000174"
    "000000000000000000000040000000000b000000416c6c6f77656443505573000261790005000000"
    "0f000000030000000b000000446576696365416c6c6f770005612873732900003000000000000000"
    "090000002f6465762f6e756c6c0000000300000072776d0008000000636861722d70747300000000"
    "0300000072776d000000000000000000"
)


def start_call() -> Message:
    return Message(
        METHOD_CALL,
        path="/org/freedesktop/systemd1",
        interface="org.freedesktop.systemd1.Manager",
        member="StartTransientUnit",
        destination="org.freedesktop.systemd1",
        signature="ssa(sv)a(sa(sv))",
        body=START_BODY,
    )


def test_start_transient_unit_bytes_exact() -> None:
    assert start_call().encode(7) == START_WIRE
    msg = decode(START_WIRE)
    assert msg.body == START_BODY
    assert (msg.type, msg.serial, msg.member, msg.signature) == (
        METHOD_CALL, 7, "StartTransientUnit", "ssa(sv)a(sa(sv))")
    assert message_length(START_WIRE[:16]) == len(START_WIRE)


def test_start_transient_unit_body_by_hand() -> None:
    # the body's first bytes, written from the specification
    body = marshal("ssa(sv)a(sa(sv))", list(START_BODY))
    assert body[:32] == (
        b"\x0c\x00\x00\x00runc-x.scope\x00"  # s: u32 length, bytes, NUL (17 bytes)
        + b"\x00\x00\x00"  # pad to 4
        + b"\x07\x00\x00\x00replace\x00"  # s at 20
    )
    # a(sv): length at 32, then padding to 8 (already), first struct at 40
    assert body[40:40 + 16] == b"\x0b\x00\x00\x00Description\x00"
    assert body[56:59] == b"\x01s\x00"  # variant signature "s"
    assert body.endswith(b"\x00\x00\x00\x00")  # empty a(sa(sv)): length 0 (+ padding to 8)


@pytest.mark.parametrize(
    ("sig", "values", "wire"),
    [
        ("y", [7], b"\x07"),
        ("b", [True], b"\x01\x00\x00\x00"),
        ("n", [-2], b"\xfe\xff"),
        ("q", [0xABCD], b"\xcd\xab"),
        ("i", [-1], b"\xff\xff\xff\xff"),
        ("u", [5], b"\x05\x00\x00\x00"),
        ("x", [-2], b"\xfe" + b"\xff" * 7),
        ("t", [(1 << 64) - 1], b"\xff" * 8),
        ("d", [1.0], b"\x00\x00\x00\x00\x00\x00\xf0\x3f"),
        ("s", ["hi"], b"\x02\x00\x00\x00hi\x00"),
        ("o", ["/a/b_1"], b"\x06\x00\x00\x00/a/b_1\x00"),
        ("g", ["a{sv}"], b"\x05a{sv}\x00"),
        ("v", [("u", 5)], b"\x01u\x00\x00\x05\x00\x00\x00"),
        ("yt", [1, 2], b"\x01" + b"\x00" * 7 + b"\x02" + b"\x00" * 7),
        ("yq", [1, 2], b"\x01\x00\x02\x00"),
        ("ay", [b"\x01\x02"], b"\x02\x00\x00\x00\x01\x02"),
        ("ay", [b""], b"\x00\x00\x00\x00"),
        # empty array of 8-aligned elements: the padding to the first element is there,
        # and not counted in the length
        ("at", [[]], b"\x00\x00\x00\x00" + b"\x00" * 4),
        ("yat", [1, []], b"\x01\x00\x00\x00" + b"\x00\x00\x00\x00"),
        ("at", [[3]], b"\x08\x00\x00\x00" + b"\x00" * 4 + b"\x03" + b"\x00" * 7),
        ("au", [[1, 2]], b"\x08\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00"),
        ("(yu)", [(1, 2)], b"\x01\x00\x00\x00\x02\x00\x00\x00"),
        ("y(y)", [1, (2,)], b"\x01" + b"\x00" * 7 + b"\x02"),
        (
            "a{sv}",
            [{"a": ("b", True)}],
            b"\x10\x00\x00\x00" + b"\x00" * 4
            + b"\x01\x00\x00\x00a\x00" + b"\x01b\x00" + b"\x00\x00\x00" + b"\x01\x00\x00\x00",
        ),
        ("a(ss)", [[("a", "b")]],
         b"\x0e\x00\x00\x00" + b"\x00" * 4 + b"\x01\x00\x00\x00a\x00\x00\x00"
         + b"\x01\x00\x00\x00b\x00"),
    ],
)
def test_known_encodings(sig: str, values: list[object], wire: bytes) -> None:
    assert bytes(marshal(sig, values)) == wire
    assert list(unmarshal(sig, wire)) == values


def test_big_endian_read() -> None:
    assert unmarshal("u", b"\x00\x00\x00\x05", big_endian=True) == (5,)
    assert unmarshal("s", b"\x00\x00\x00\x02hi\x00", big_endian=True) == ("hi",)
    # a whole big-endian message: rewrite the fixed part and the few numbers of a tiny one
    little = Message(METHOD_CALL, path="/", member="M", signature="u", body=(5,)).encode(3)
    msg = decode(little)
    assert (msg.path, msg.member, msg.body) == ("/", "M", (5,))


# ---------------------------------------------------------------- round trips

_BASIC_SIGS = list("ybnqiuxtdsog")
_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
                max_size=20)
_path = st.lists(st.from_regex(r"[A-Za-z0-9_]{1,8}", fullmatch=True), max_size=4).map(
    lambda parts: "/" + "/".join(parts))


def _types(depth: int) -> st.SearchStrategy[str]:
    basic = st.sampled_from(_BASIC_SIGS)
    if depth == 0:
        return basic
    inner = _types(depth - 1)
    return st.one_of(
        basic,
        st.just("v"),
        inner.map(lambda t: "a" + t),
        st.lists(inner, min_size=1, max_size=4).map(lambda ts: "(" + "".join(ts) + ")"),
        st.tuples(basic, inner).map(lambda kv: "a{" + kv[0] + kv[1] + "}"),
    )


_RANGES = {"y": (0, 255), "n": (-(1 << 15), (1 << 15) - 1), "q": (0, 0xFFFF),
           "i": (-(1 << 31), (1 << 31) - 1), "u": (0, 0xFFFFFFFF),
           "x": (-(1 << 63), (1 << 63) - 1), "t": (0, (1 << 64) - 1)}


def _values(t: str) -> st.SearchStrategy[object]:
    c = t[0]
    if c in _RANGES:
        lo, hi = _RANGES[c]
        return st.integers(lo, hi)
    if c == "b":
        return st.booleans()
    if c == "d":
        return st.floats(allow_nan=False)
    if c == "s":
        return _text
    if c == "o":
        return _path
    if c == "g":
        return st.lists(_types(2), max_size=3).map("".join).filter(lambda s: len(s) < 256)
    if c == "v":
        return _types(2).flatmap(lambda vt: _values(vt).map(lambda v: (vt, v)))
    if t == "ay":
        return st.binary(max_size=20)
    if t.startswith("a{"):
        kt, vt = split_signature(t[2:-1])
        return st.dictionaries(_values(kt), _values(vt), max_size=3)
    if c == "a":
        return st.lists(_values(t[1:]), max_size=3)
    assert c == "("
    return st.tuples(*(_values(ft) for ft in split_signature(t[1:-1])))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_types(2), min_size=1, max_size=4).flatmap(
    lambda ts: st.tuples(st.just("".join(ts)), st.tuples(*(_values(t) for t in ts)))))
def test_round_trip(case: tuple[str, tuple[object, ...]]) -> None:
    sig, values = case
    data = bytes(marshal(sig, list(values)))
    assert unmarshal(sig, data) == values
    msg = Message(METHOD_CALL, path="/p", member="M", signature=sig, body=values)
    assert decode(msg.encode(1)).body == values


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_is_a_dbus_error(data: bytes) -> None:
    for sig in ("a{sv}", "s", "v", "a(sa(sv))", "g", "ad"):
        try:
            unmarshal(sig, data)
        except DBusError:
            pass
    try:
        decode(data)
    except DBusError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(START_WIRE) - 1), st.integers(0, 255), st.integers(1, len(START_WIRE)))
def test_damaged_message_is_a_dbus_error(pos: int, byte: int, cut: int) -> None:
    damaged = bytearray(START_WIRE)
    damaged[pos] = byte
    for data in (bytes(damaged), bytes(damaged[:cut])):
        try:
            total = message_length(data[:16])
            decode(data[:total])
        except DBusError:
            pass


@pytest.mark.parametrize(
    ("sig", "data", "why"),
    [
        ("b", b"\x02\x00\x00\x00", "boolean"),
        ("s", b"\x02\x00\x00\x00\xff\xfe\x00", "UTF-8"),
        ("s", b"\x02\x00\x00\x00hi!", "bad string"),
        ("s", b"\x02\x00\x00\x00h\x00\x00", "NUL"),
        ("s", b"\xff\xff\xff\xffhi\x00", "bad string"),
        ("yu", b"\x01\x01\x00\x00\x05\x00\x00\x00", "padding"),
        ("au", b"\x08\x00\x00\x00\x01\x00\x00\x00", "truncated"),
        ("au", b"\x00\x00\x00\x08", "longer than 64 MiB"),
        ("au", b"\x06\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00", "array length"),
        ("o", b"\x02\x00\x00\x00//\x00", "object path"),
        ("v", b"\x02uu\x00\x05\x00\x00\x00\x05\x00\x00\x00", "single complete type"),
        ("g", b"\x02a{\x00", "signature"),
        ("u", b"\x01\x00", "truncated"),
        ("u", b"\x01\x00\x00\x00\x00", "trailing"),
    ],
)
def test_malformed_values(sig: str, data: bytes, why: str) -> None:
    with pytest.raises(DBusError, match=why):
        unmarshal(sig, data)


def test_malformed_messages() -> None:
    good = Message(METHOD_CALL, path="/", member="M").encode(1)
    with pytest.raises(DBusError, match="byte order"):
        message_length(b"x" + good[1:16])
    with pytest.raises(DBusError, match="protocol version"):
        message_length(good[:3] + b"\x02" + good[4:16])
    with pytest.raises(DBusError, match="serial 0"):
        decode(good[:8] + b"\x00\x00\x00\x00" + good[12:])
    with pytest.raises(DBusError, match="exceeds 128 MiB"):
        message_length(good[:4] + b"\xff\xff\xff\x7f" + good[8:16])
    # a method call without a member
    no_member = Message(METHOD_CALL, path="/").encode(1)
    with pytest.raises(DBusError, match="without path or member"):
        decode(no_member)
    # a reply without a reply serial
    with pytest.raises(DBusError, match="reply serial"):
        decode(Message(2).encode(1))


@pytest.mark.parametrize(
    "sig",
    ["a", "(", "()", "(u", "a{vs}", "a{s}", "a{sss}", "{sv}", "z", "a" * 33 + "u",
     "(" * 33 + "u" + ")" * 33, "u" * 256],
)
def test_bad_signatures(sig: str) -> None:
    with pytest.raises(DBusError):
        split_signature(sig)


@pytest.mark.parametrize(
    ("sig", "value"),
    [("y", 256), ("y", -1), ("u", -1), ("t", 1 << 64), ("b", 2), ("i", "1"), ("s", 5),
     ("s", "a\0b"), ("s", "\ud800"), ("g", "é"), ("d", 10**400), ("o", "no/slash"),
     ("o", "/trailing/"), ("g", "a{"), ("v", "u"),
     ("v", ("uu", 1)), ("au", 5), ("a{sv}", 5), ("(uu)", (1,)), ("a(ss)", [("a",)]),
     ("d", "x"), ("d", True)],
)
def test_marshal_rejects(sig: str, value: object) -> None:
    with pytest.raises(DBusError):
        marshal(sig, [value])


_any_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
    | st.binary(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner)
    | st.tuples(st.sampled_from(["u", "s", "ay", "(ss)", "bad"]), inner)
    | st.dictionaries(st.text(max_size=3), inner, max_size=2),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_types(2), min_size=1, max_size=2).map("".join), _any_value)
def test_marshal_any_value_is_a_dbus_error_or_data(sig: str, value: object) -> None:
    """Whatever a caller (an annotation, a resource) passes: DBusError or bytes."""
    try:
        data = bytes(marshal(sig, [value] * len(split_signature(sig))))
    except DBusError:
        return
    assert len(unmarshal(sig, data)) == len(split_signature(sig))


def test_marshal_counts_values() -> None:
    with pytest.raises(DBusError, match="wants 2 values"):
        marshal("su", ["a"])


# ---------------------------------------------------------------- systemd helpers

@pytest.mark.parametrize(
    ("name", "escaped"),
    [
        ("runc-x.scope", "runc_2dx_2escope"),
        ("system.slice", "system_2eslice"),
        ("docker-0123abc.scope", "docker_2d0123abc_2escope"),
        ("1a.scope", "_31a_2escope"),
        ("a_b", "a_5fb"),
        ("é", "_c3_a9"),
        ("", "_"),
    ],
)
def test_unit_path_escape(name: str, escaped: str) -> None:
    assert unit_path(name) == "/org/freedesktop/systemd1/unit/" + escaped


@pytest.mark.parametrize(
    ("text", "number"),
    [("v252.22-1~deb12u1", 252), ("252.22-1~deb12u1", 252), ("v245.4-1.fc32", 245),
     ("249", 249), ("", 0), ("vX", 0)],
)
def test_parse_version(text: str, number: int) -> None:
    assert parse_version(text) == number


def test_parse_address() -> None:
    assert parse_address("unix:path=/run/dbus/system_bus_socket") == [
        ("unix", {"path": "/run/dbus/system_bus_socket"})]
    assert parse_address("unix:abstract=/tmp/dbus-x,guid=abc;unix:path=/a%20b%2c;") == [
        ("unix", {"abstract": "/tmp/dbus-x", "guid": "abc"}), ("unix", {"path": "/a b,"})]
    for bad in ("", "nocolon", "unix:path", "unix:path=%2", "unix:path=%zz"):
        with pytest.raises(DBusError):
            parse_address(bad)


# ---------------------------------------------------------------- import cost

def test_import_set_is_lean() -> None:
    """The client must not pull in os, socket (and its enum), struct or threading: a
    short-lived ``pyoci create --systemd-cgroup`` pays every import."""
    site = sysconfig.get_paths()["purelib"]
    code = (
        f"import sys; sys.path.append({site!r}); import pyoci.dbus.systemd1; "
        "print(' '.join(sorted(m for m in ('os', 'socket', 'enum', 'struct', 'threading', "
        "'selectors', 'asyncio', 'logging', 'dataclasses', 're') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == ""
