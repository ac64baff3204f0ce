"""The urfave/cli-compatible flag parser, signal names, and the CLI error boundary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pyoci import cli
from pyoci.cli.args import BOOL, INT, LIST, STRING, Flag, parse
from pyoci.errors import UsageError
from pyoci.util.signals import parse_signal

FLAGS = [
    Flag("bundle, b", STRING),
    Flag("pid-file", STRING),
    Flag("detach, d", BOOL),
    Flag("preserve-fds", INT),
    Flag("env, e", LIST),
    Flag("format, f", STRING, default="table"),
]


@pytest.mark.parametrize(
    "argv",
    [
        ["--bundle", "/b", "id"],
        ["--bundle=/b", "id"],
        ["-bundle", "/b", "id"],
        ["-bundle=/b", "id"],
        ["-b", "/b", "id"],
        ["-b=/b", "id"],
        ["id", "--bundle", "/b"],  # flags after the argument (urfave reorders)
    ],
)
def test_string_flag_forms(argv: list[str]) -> None:
    p = parse(argv, FLAGS)
    assert p.text("bundle") == "/b"
    assert p.args == ["id"]
    assert "bundle" in p.given


def test_defaults() -> None:
    p = parse(["id"], FLAGS)
    assert p.text("bundle") is None
    assert p.flag("detach") is False
    assert p.number("preserve_fds") == 0
    assert p.items("env") == []
    assert p.text("format") == "table"
    assert p.given == set()


@pytest.mark.parametrize(
    "argv,value",
    [(["-d"], True), (["--detach"], True), (["--detach=true"], True), (["-d=1"], True),
     (["--detach=false"], False), (["-detach=f"], False), (["--detach=0"], False)],
)  # fmt: skip
def test_bool_forms(argv: list[str], value: bool) -> None:
    assert parse([*argv, "id"], FLAGS).flag("detach") is value


def test_bool_never_takes_the_next_argument() -> None:
    p = parse(["-d", "id"], FLAGS)
    assert p.flag("detach") and p.args == ["id"]


def test_bad_bool_value() -> None:
    with pytest.raises(UsageError, match="invalid boolean value"):
        parse(["--detach=maybe"], FLAGS)


def test_int_flag() -> None:
    assert parse(["--preserve-fds", "3"], FLAGS).number("preserve_fds") == 3
    assert parse(["--preserve-fds=0x10"], FLAGS).number("preserve_fds") == 16
    with pytest.raises(UsageError, match="invalid value"):
        parse(["--preserve-fds", "three"], FLAGS)


def test_list_flag_repeats() -> None:
    p = parse(["-e", "A=1", "--env", "B=2", "--env=C=3"], FLAGS)
    assert p.items("env") == ["A=1", "B=2", "C=3"]


def test_unknown_flag_and_missing_value() -> None:
    with pytest.raises(UsageError, match="flag provided but not defined: -nope"):
        parse(["--nope"], FLAGS)
    with pytest.raises(UsageError, match="flag needs an argument: -bundle"):
        parse(["--bundle"], FLAGS)


def test_double_dash_ends_flags() -> None:
    p = parse(["-d", "--", "--bundle", "x"], FLAGS)
    assert p.flag("detach") and p.args == ["--bundle", "x"]


def test_stop_after_positional() -> None:
    p = parse(["-d", "id", "sh", "-c", "--bundle"], FLAGS, stop_after_positional=1)
    assert p.flag("detach")
    assert p.args == ["id", "sh", "-c", "--bundle"]


def test_single_dash_is_an_argument() -> None:
    assert parse(["-"], FLAGS).args == ["-"]


# ------------------------------------------------------------------------ signals


@pytest.mark.parametrize(
    "text,num",
    [("9", 9), ("KILL", 9), ("SIGKILL", 9), ("kill", 9), ("sigterm", 15), ("TERM", 15),
     ("HUP", 1), ("USR1", 10), ("SIGUSR2", 12), ("CHLD", 17), ("WINCH", 28), ("64", 64),
     ("RTMIN", 34), ("RTMIN+3", 37), ("SIGRTMAX", 64), ("RTMAX-2", 62), (" 15 ", 15)],
)  # fmt: skip
def test_parse_signal(text: str, num: int) -> None:
    assert parse_signal(text) == num


@pytest.mark.parametrize("text", ["0", "65", "-1", "FOO", "SIG", "RTMIN+31", "RTMAX-31", "9x",
                                  ""])  # fmt: skip
def test_bad_signal(text: str) -> None:
    with pytest.raises(UsageError):
        parse_signal(text)


# ------------------------------------------------------------- the error boundary


def test_main_version(capsys: Any) -> None:
    assert cli.main(["--version"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[0].startswith("pyoci version ") and lines[2] == "spec: 1.3.0"


@pytest.mark.parametrize("form", [["--root", "{r}"], ["--root={r}"], ["-root", "{r}"],
                                  ["-root={r}"]])  # fmt: skip
def test_main_global_flag_forms(tmp_path: Path, capsys: Any, form: list[str]) -> None:
    argv = [a.format(r=tmp_path / "root") for a in form]
    assert cli.main([*argv, "list", "-q"]) == 0
    assert capsys.readouterr().out == ""


def test_main_error_is_one_line_and_one_log_line(tmp_path: Path, capsys: Any) -> None:
    log = tmp_path / "log.json"
    code = cli.main(["--root", str(tmp_path / "r"), "--log", str(log), "--log-format", "json",
                     "state", "ghost"])  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert err == "pyoci: container ghost does not exist\n"
    lines = log.read_text().splitlines()
    assert len(lines) == 1
    doc = json.loads(lines[0])
    assert set(doc) == {"level", "msg", "time"}
    assert doc["level"] == "error" and doc["msg"] == "container ghost does not exist"
    assert doc["time"].endswith("Z") and "T" in doc["time"]
    cli.log.configure(None)


def test_main_unexpected_exception_is_one_line(tmp_path: Path, capsys: Any,
                                               monkeypatch: Any) -> None:  # fmt: skip
    import pyoci.cli.list_ as list_mod

    def boom(ctx: object, p: object) -> int:
        raise RuntimeError("kaput")

    monkeypatch.setattr(list_mod, "run", boom)
    assert cli.main(["--root", str(tmp_path), "list"]) == 1
    err = capsys.readouterr().err
    assert err == "pyoci: internal error: RuntimeError: kaput\n"
