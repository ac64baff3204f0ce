"""pyoci.util.lean_os behaves as the os / os.path functions it stands in for."""

from __future__ import annotations

import os
import posixpath
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyoci.util import lean_os

paths = st.lists(st.sampled_from(["", ".", "..", "a", "bc", "..."]), max_size=7).map("/".join)
prefixed = st.tuples(st.sampled_from(["", "/", "//", "///"]), paths).map("".join)


@given(prefixed)
def test_normpath_is_posixpaths(path: str) -> None:
    assert lean_os.normpath(path) == posixpath.normpath(path)


@given(prefixed)
def test_split_helpers_are_posixpaths(path: str) -> None:
    assert lean_os.dirname(path) == posixpath.dirname(path)
    assert lean_os.basename(path) == posixpath.basename(path)


@given(prefixed)
def test_abspath_is_posixpaths(path: str) -> None:
    assert lean_os.abspath(path) == posixpath.abspath(path)


def test_file_tests(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    (tmp_path / "d").mkdir()
    (tmp_path / "dangling").symlink_to(tmp_path / "missing")
    (tmp_path / "link").symlink_to(tmp_path / "d")
    os.mkfifo(tmp_path / "fifo")
    for name in ("f", "d", "dangling", "link", "fifo", "missing"):
        p = str(tmp_path / name)
        assert lean_os.exists(p) == os.path.exists(p), name
        assert lean_os.isdir(p) == os.path.isdir(p), name
        assert lean_os.isfile(p) == os.path.isfile(p), name
    assert not lean_os.exists("bad\0path")  # as os.path.exists: False, not ValueError


def test_makedirs(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        leaf = tmp_path / "a" / "b" / "c"
        lean_os.makedirs(str(leaf), 0o700)
        assert stat.S_IMODE(leaf.stat().st_mode) == 0o700
        assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o755  # parents: default
        lean_os.makedirs(str(leaf), 0o700)  # exists: fine
        lean_os.makedirs(str(leaf) + "/", 0o700)
        (tmp_path / "file").write_text("x")
        with pytest.raises(FileExistsError):
            lean_os.makedirs(str(tmp_path / "file"), 0o700)
        with pytest.raises(NotADirectoryError):
            lean_os.makedirs(str(tmp_path / "file" / "sub"), 0o700)
    finally:
        os.umask(old)


def test_getenv_decodes_as_os_environ() -> None:
    code = (
        "import os, sys\n"
        "from pyoci.util import lean_os\n"
        "for name in ('PLAIN', 'RAW', 'EMPTY', 'UNSET'):\n"
        "    assert lean_os.getenv(name) == os.environ.get(name), name\n"
        "print(repr(lean_os.getenv('RAW')))\n"
    )
    env = {b"PLAIN": b"value", b"RAW": b"caf\xe9", b"EMPTY": b""}
    out = subprocess.run([sys.executable, "-I", "-c", code], env=env, capture_output=True,
                         check=True, timeout=30)  # fmt: skip
    assert out.stdout.strip() == b"'caf\\udce9'"


def test_walk_dirs_visits_what_os_walk_visits(tmp_path: Path) -> None:
    for rel in ("a/b/c", "a/d", "e"):
        (tmp_path / rel).mkdir(parents=True)
    (tmp_path / "a" / "f").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "a")  # not followed, as os.walk
    assert list(lean_os.walk_dirs(str(tmp_path))) == [r for r, _, _ in os.walk(tmp_path)]
    assert list(lean_os.walk_dirs(str(tmp_path / "missing"))) == []
    assert list(lean_os.walk_dirs(str(tmp_path / "a" / "f"))) == []


@given(prefixed, st.lists(prefixed, max_size=3))
def test_join_is_posixpaths(first: str, rest: list[str]) -> None:
    assert lean_os.join(first, *rest) == posixpath.join(first, *rest)


def test_realpath_existing_is_realpath_for_what_exists(tmp_path: Path) -> None:
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "f").write_text("x")
    (tmp_path / "to-d").symlink_to("d")
    (tmp_path / "d" / "up").symlink_to("..")
    (tmp_path / "dangling").symlink_to("nowhere")
    for rel in ("d", "d/e", "f", "to-d", "to-d/e", "d/up/to-d", "d/../f", "./d//e/"):
        path = f"{tmp_path}/{rel}"
        assert lean_os.realpath_existing(path) == os.path.realpath(path), rel
    assert lean_os.realpath_existing(f"{tmp_path}/dangling") is None
    assert lean_os.realpath_existing(f"{tmp_path}/missing/x") is None


def test_fsencode_is_os_fsencode() -> None:
    for value in ("plain", "ünï", "bad\udcff", b"raw\xff"):
        assert lean_os.fsencode(value) == os.fsencode(value)
