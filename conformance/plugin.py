"""The pytest side of the suite: options, clause markers, expectations, the report.

* ``@clause(FILE, QUOTE)`` (a ``pytest.mark.clause``) ties a test to the spec
  sentence of FILE that contains QUOTE; an unknown or ambiguous quote is a
  collection error, so every test is traceable to the spec text.
* ``conformance/expectations/<runtime>.json`` lists the tests a runtime is
  known to fail, each with its clause and the reason; they run as strict
  xfails (an unexpected pass fails the run, so the file stays true).
* At the end every clause of the registry gets one status for the runtime
  under test: pass, fail, xfail (known deviation), skip (with the reasons),
  or not covered (with the reason from ``conformance/uncovered.toml``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from conformance import clauses as clause_mod
from conformance.clauses import Clause, ClauseNotFound
from conformance.skips import SkipCheck

HERE = Path(__file__).parent
EXPECTATIONS_DIR = HERE / "expectations"
UNCOVERED_FILE = HERE / "uncovered.toml"

F = TypeVar("F", bound=Callable[..., Any])


def clause(file: str, quote: str) -> pytest.MarkDecorator:
    """Mark a test as checking the sentence of ``file`` that contains ``quote``."""
    return pytest.mark.clause(file, quote)


# ---- options ------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("conformance", "OCI runtime conformance")
    g.addoption("--runtime", default=None,
                help="the runtime binary under test (default: $OCI_RUNTIME, else the "
                     "pyoci next to this interpreter, else pyoci on PATH)")
    g.addoption("--report", default=None, metavar="FILE",
                help="write the per-clause report to FILE (.md or .json)")
    g.addoption("--expectations", default=None, metavar="FILE",
                help="known failures of the runtime (default: expectations/<name>.json; "
                     "'none' for no expectations)")


def runtime_binary(config: pytest.Config) -> str:
    value = config.getoption("--runtime") or os.environ.get("OCI_RUNTIME")
    if not value:
        here = Path(sys.executable).parent / "pyoci"
        value = str(here) if here.exists() else (shutil.which("pyoci") or "pyoci")
    found = shutil.which(value)
    return str(Path(found).resolve()) if found and "/" not in value else (found or value)


# ---- expectations -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Expectation:
    test: str
    clause: str
    reason: str


def load_expectations(config: pytest.Config, runtime: str) -> tuple[Path | None,
                                                                     dict[str, Expectation]]:
    opt = config.getoption("--expectations")
    if opt == "none":
        return None, {}
    path = Path(opt) if opt else EXPECTATIONS_DIR / f"{Path(runtime).name}.json"
    if not path.exists():
        if opt:
            raise pytest.UsageError(f"expectations file {path} does not exist")
        return None, {}
    data = json.loads(path.read_text())
    out: dict[str, Expectation] = {}
    for test, entry in data.get("xfail", {}).items():
        out[test] = Expectation(test, entry.get("clause", ""), entry["reason"])
    return path, out


def load_uncovered() -> dict[str, str]:
    if not UNCOVERED_FILE.exists():
        return {}
    data = tomllib.loads(UNCOVERED_FILE.read_text())
    reasons: dict[str, str] = {}
    for section in data.values():
        if isinstance(section, dict):
            for k, v in section.items():
                reasons[k] = str(v)
    return reasons


# ---- collection -----------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    nodeid: str
    outcome: str  # passed failed skipped xfailed xpassed error
    reason: str = ""


@dataclasses.dataclass
class State:
    runtime: str
    expectations_file: Path | None
    expectations: dict[str, Expectation]
    item_clauses: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    outcomes: dict[str, Outcome] = dataclasses.field(default_factory=dict)
    full_run: bool = False
    used_expectations: set[str] = dataclasses.field(default_factory=set)


STATE_KEY = pytest.StashKey[State]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "clause(file, quote): the spec sentence a test checks")
    runtime = runtime_binary(config)
    path, exp = load_expectations(config, runtime)
    config.stash[STATE_KEY] = State(runtime, path, exp)
    # every skip must be one the host explains (conformance/skips.py)
    if not config.pluginmanager.has_plugin("pyoci-skips"):
        config.pluginmanager.register(SkipCheck(f"conformance:{Path(runtime).name}"),
                                      "pyoci-skips")


def _test_key(item: pytest.Item) -> list[str]:
    """Names an expectation may use for an item: 'test_x[param]', then 'test_x'."""
    name = item.name
    base = name.split("[", 1)[0]
    return [name, base] if base != name else [name]


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    st = config.stash[STATE_KEY]
    try:
        clause_mod.registry()
    except FileNotFoundError as exc:
        raise pytest.UsageError(str(exc)) from None
    problems: list[str] = []
    for item in items:
        ids: list[str] = []
        for mark in item.iter_markers("clause"):
            try:
                c = clause_mod.find(*mark.args)
            except ClauseNotFound as exc:
                problems.append(f"{item.nodeid}: {exc}")
                continue
            ids.append(c.id)
        st.item_clauses[item.nodeid] = ids
        for key in _test_key(item):
            exp = st.expectations.get(key)
            if exp is None:
                continue
            if exp.clause and exp.clause not in ids:
                problems.append(f"{item.nodeid}: expectation names clause {exp.clause}, "
                                f"the test checks {ids}")
            st.used_expectations.add(key)
            item.add_marker(pytest.mark.xfail(reason=f"{exp.reason} [{exp.clause}]",
                                              strict=True, run=True))
            break
    if problems:
        raise pytest.UsageError("clause markers do not match the spec:\n  "
                                + "\n  ".join(problems))
    st.full_run = not (config.getoption("keyword") or config.getoption("markexpr")
                       or config.getoption("lf", False) or any("::" in a for a in config.args))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or (report.when == "setup" and not report.passed):
        outcome: str = report.outcome
        reason = ""
        if hasattr(report, "wasxfail"):
            outcome = "xfailed" if report.skipped else "xpassed"
            reason = str(report.wasxfail)
        elif report.skipped:
            lr = report.longrepr
            reason = str(lr[2]) if isinstance(lr, tuple) else str(lr)
            reason = reason.removeprefix("Skipped: ")
        elif report.failed:
            reason = _first_line(report)
            if report.when == "setup":
                outcome = "error"
        _STATE_FOR_REPORT.outcomes[report.nodeid] = Outcome(report.nodeid, outcome, reason)
    elif report.when == "teardown" and report.failed:
        prev = _STATE_FOR_REPORT.outcomes.get(report.nodeid)
        if prev is None or prev.outcome == "passed":
            _STATE_FOR_REPORT.outcomes[report.nodeid] = Outcome(
                report.nodeid, "error", "teardown: " + _first_line(report))


def _first_line(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message).splitlines()[0][:300] if crash.message else ""
    return str(report.longrepr).strip().splitlines()[-1][:300] if report.longrepr else ""


# The logreport hook has no config; the session sets this.
_STATE_FOR_REPORT = State("", None, {})


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    global _STATE_FOR_REPORT
    _STATE_FOR_REPORT = session.config.stash[STATE_KEY]


# ---- per-clause verdicts --------------------------------------------------------


@dataclasses.dataclass
class Verdict:
    clause: Clause
    status: str  # pass fail xfail skip not-covered
    note: str
    tests: list[Outcome]


_RANK = {"error": 5, "failed": 5, "xpassed": 5, "xfailed": 4, "passed": 3, "skipped": 2}
_STATUS = {"error": "fail", "failed": "fail", "xpassed": "fail", "xfailed": "xfail",
           "passed": "pass", "skipped": "skip"}


def verdicts(st: State) -> list[Verdict]:
    reg = clause_mod.registry()
    uncovered = load_uncovered()
    by_clause: dict[str, list[Outcome]] = {cid: [] for cid in reg}
    for nodeid, ids in st.item_clauses.items():
        out = st.outcomes.get(nodeid)
        if out is None:
            continue
        for cid in ids:
            by_clause[cid].append(out)
    result: list[Verdict] = []
    for cid, c in sorted(reg.items(), key=lambda kv: kv[1].order):
        tests = by_clause[cid]
        covered = any(cid in ids for ids in st.item_clauses.values())
        if not tests:
            if covered:
                result.append(Verdict(c, "not-run", "deselected in this run", []))
            else:
                reason = uncovered.get(cid, "no test and no reason recorded")
                result.append(Verdict(c, "not-covered", reason, []))
            continue
        worst = max(tests, key=lambda o: _RANK.get(o.outcome, 0))
        status = _STATUS.get(worst.outcome, worst.outcome)
        if status == "skip":
            note = "; ".join(sorted({o.reason for o in tests if o.reason}))
        elif status in ("fail", "xfail"):
            note = "; ".join(sorted({f"{o.nodeid.split('::')[-1]}: {o.reason}" for o in tests
                                     if o.outcome == worst.outcome}))
        else:
            note = ""
        result.append(Verdict(c, status, note, tests))
    return result


def coverage_problems(st: State) -> list[str]:
    """Clauses with neither a test nor a reason, reasons for tested clauses, and
    expectations that name no collected test (checked on full runs only)."""
    reg = clause_mod.registry()
    uncovered = load_uncovered()
    tested = {cid for ids in st.item_clauses.values() for cid in ids}
    out = [f"{cid}: no test and no reason in uncovered.toml ({reg[cid].text[:80]})"
           for cid in reg if cid not in tested and cid not in uncovered]
    out += [f"{cid}: has a test but is also listed in uncovered.toml"
            for cid in uncovered if cid in tested]
    out += [f"{cid}: listed in uncovered.toml but not a clause of the spec"
            for cid in uncovered if cid not in reg]
    out += [f"expectation {k!r} in {st.expectations_file} matches no test"
            for k in st.expectations if k not in st.used_expectations]
    return out


def render_markdown(st: State, vs: list[Verdict]) -> str:
    counts: dict[str, dict[str, int]] = {}
    for v in vs:
        counts.setdefault(v.clause.level, {}).setdefault(v.status, 0)
        counts[v.clause.level][v.status] += 1
    lines = [f"# OCI runtime-spec {clause_mod.SPEC_VERSION} conformance: `{st.runtime}`", ""]
    if st.expectations_file:
        lines.append(f"Expectations: `{st.expectations_file.name}`")
        lines.append("")
    lines += ["| level | " + " | ".join(_ORDER) + " |",
              "|---|" + "---|" * len(_ORDER)]
    for level in ("MUST", "SHOULD"):
        c = counts.get(level, {})
        lines.append(f"| {level} | " + " | ".join(str(c.get(s, 0)) for s in _ORDER) + " |")
    current = ""
    for v in vs:
        if v.clause.file != current:
            current = v.clause.file
            lines += ["", f"## {current}", "", "| clause | level | status | note |",
                      "|---|---|---|---|"]
        text = v.clause.text.replace("|", "\\|")
        note = v.note.replace("|", "\\|").replace("\n", " ")
        tests = ", ".join(sorted({t.nodeid.split("::")[-1] for t in v.tests}))
        if tests:
            note = f"{note} (tests: {tests})" if note else f"tests: {tests}"
        lines.append(f"| [{v.clause.id}]({v.clause.url}) {text} | {v.clause.level} | "
                     f"{v.status} | {note} |")
    return "\n".join(lines) + "\n"


_ORDER = ("pass", "fail", "xfail", "skip", "not-covered", "not-run")


def render_json(st: State, vs: list[Verdict]) -> str:
    return json.dumps({
        "runtime": st.runtime,
        "spec": clause_mod.SPEC_VERSION,
        "expectations": str(st.expectations_file) if st.expectations_file else None,
        "clauses": [{
            "id": v.clause.id, "file": v.clause.file, "section": v.clause.section,
            "level": v.clause.level, "text": v.clause.text, "url": v.clause.url,
            "status": v.status, "note": v.note,
            "tests": [dataclasses.asdict(t) for t in v.tests],
        } for v in vs],
    }, indent=1)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    st = config.stash[STATE_KEY]
    if not st.item_clauses:
        return
    if st.full_run:
        problems = coverage_problems(st)
        if problems:
            tr = config.pluginmanager.get_plugin("terminalreporter")
            msg = "clause bookkeeping problems:\n  " + "\n  ".join(problems)
            if tr is not None:
                tr.write_line(msg, red=True)
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    report = config.getoption("--report")
    if report:
        vs = verdicts(st)
        path = Path(report)
        text = render_json(st, vs) if path.suffix == ".json" else render_markdown(st, vs)
        path.write_text(text)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int,
                            config: pytest.Config) -> None:
    st = config.stash[STATE_KEY]
    if not st.outcomes:
        return
    vs = verdicts(st)
    counts: dict[str, int] = {}
    for v in vs:
        counts[v.status] = counts.get(v.status, 0) + 1
    terminalreporter.section("spec clauses")
    terminalreporter.write_line(f"runtime: {st.runtime}")
    terminalreporter.write_line(", ".join(f"{counts.get(s, 0)} {s}" for s in _ORDER))
    for v in vs:
        if v.status == "fail":
            terminalreporter.write_line(f"FAIL {v.clause.id}: {v.clause.text[:100]}", red=True)
    report = config.getoption("--report")
    if report:
        terminalreporter.write_line(f"report written to {report}")
