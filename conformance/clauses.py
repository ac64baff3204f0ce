"""The registry of spec clauses: every MUST / SHOULD sentence of the runtime-spec files.

The clauses are read from the spec text itself (v1.3.0 in
``../shared/reference/runtime-spec`` relative to the repository, or
``$PYOCI_SPEC_DIR``), so a test's quote is checked against the spec: a test
names its clause by file and a verbatim piece of the sentence, and a quote
that is not in the spec is an error at collection time.

What counts as a clause:

* a sentence with an RFC 2119 keyword in capitals (MUST, MUST NOT, SHALL,
  REQUIRED, SHOULD, SHOULD NOT, RECOMMENDED): level ``MUST`` or ``SHOULD``;
* the ``REQUIRED`` of a field annotation such as ``(string, REQUIRED)`` only in
  the documents that describe what a runtime *outputs* (the state in
  runtime.md, the features document): in config*.md it constrains the author
  of ``config.json``, not the runtime;
* each row of the Linux mount options table whose requirement is MUST or
  SHOULD (``Runtimes MUST implement the option string `async```).

A clause id is ``<file stem>:<section slug>:<n>`` (n counts the clauses of the
section from 1), or ``<file stem>:<section slug>:<option>`` for a table row.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from conformance import refs

SPEC_FILES = (
    "runtime.md",
    "runtime-linux.md",
    "config.md",
    "config-linux.md",
    "features.md",
    "features-linux.md",
)
SPEC_VERSION = refs.SPEC_VERSION
SPEC_URL = f"https://github.com/opencontainers/runtime-spec/blob/{SPEC_VERSION}"
# Documents whose REQUIRED field annotations constrain what the runtime outputs.
_OUTPUT_DOCS = frozenset({"runtime.md", "features.md", "features-linux.md"})

_KEYWORD = re.compile(r"\b(MUST|SHALL|REQUIRED|SHOULD|RECOMMENDED)\b")
_FIELD_ANNOTATION = re.compile(r"\([^()]*\b(?:REQUIRED|OPTIONAL)\b[^()]*\)")
_HEADING = re.compile(r"^(#+)\s+(.*)$")
_ANCHOR = re.compile(r'<a name="([^"]+)"\s*/>')
_LINK = re.compile(r"\[((?:[^\[\]]|\[\])*)\]\[[^\]]*\]|\[((?:[^\[\]]|\[\])*)\]\([^)]*\)")
_FOOTNOTE = re.compile(r"\[\^\d+\]")
_ITEM = re.compile(r"^\s*(?:[*+-]|\d+\.)\s+")
# A sentence ends at ". X" (X a capital, backquote, emphasis or link), or at a line
# break before a capital: the spec writes one sentence a line, wrapping some.
_SENTENCE_END = re.compile(
    r"(?<![ (]e\.g\.)(?<![ (]i\.e\.)(?<=[.!?:])\s+(?=[A-Z`*\[(])|(?<=[.:)])\s*\n\s*(?=[A-Z])"
)


@dataclasses.dataclass(frozen=True)
class Clause:
    """One requirement of the spec."""

    id: str
    file: str
    section: str  # heading text
    anchor: str  # GitHub anchor of the section
    level: str  # MUST or SHOULD
    text: str  # the sentence, markdown links and emphasis removed

    @property
    def url(self) -> str:
        return f"{SPEC_URL}/{self.file}#{self.anchor}"

    @property
    def order(self) -> tuple[int, int, str]:
        """Sort key: spec file order, then document order."""
        return (SPEC_FILES.index(self.file), _ORDINAL.get(self.id, 0), self.id)


_ORDINAL: dict[str, int] = {}


def spec_dir() -> Path:
    """``$PYOCI_SPEC_DIR``, else ``../shared/reference/runtime-spec`` (conformance.refs)."""
    return refs.spec_dir()


def normalize(text: str) -> str:
    """Plain text of a markdown fragment: links become their text, no emphasis."""
    text = _ANCHOR.sub("", text)
    text = _LINK.sub(lambda m: m.group(1) if m.group(1) is not None else m.group(2), text)
    text = _FOOTNOTE.sub("", text)
    text = text.replace("**", "").replace("\\_", "_")
    text = re.sub(r"(?<!\w)_(\S[^_]*\S)_(?!\w)", r"\1", text)  # _emphasis_
    return " ".join(text.split())


def github_slug(title: str) -> str:
    t = normalize(title).lower().replace("`", "")
    t = re.sub(r"[^\w\- ]", "", t)
    return t.replace(" ", "-")


def _level(sentence: str, file: str) -> str | None:
    probe = sentence if file in _OUTPUT_DOCS else _FIELD_ANNOTATION.sub("", sentence)
    words = set(_KEYWORD.findall(probe))
    if not words:
        return None
    if words & {"MUST", "SHALL", "REQUIRED"}:
        return "MUST"
    return "SHOULD"


def _items(lines: list[str]) -> Iterator[tuple[str, str]]:
    """Logical items of a section: ('table', row) or ('text', joined lines)."""
    buf: list[str] = []
    in_code = False
    for raw in lines:
        line = raw.rstrip()
        if line.lstrip().startswith("```"):
            in_code = not in_code
            if buf:
                yield "text", "\n".join(buf)
                buf = []
            continue
        if in_code:
            continue
        if not line.strip():
            if buf:
                yield "text", "\n".join(buf)
                buf = []
            continue
        if line.lstrip().startswith("|") or (re.match(r"^\s*\S[^|]*\|", line) and "|" in line \
                and line.count("|") >= 2):
            if buf:
                yield "text", "\n".join(buf)
                buf = []
            yield "table", line
            continue
        if _ITEM.match(line) and buf:
            yield "text", "\n".join(buf)
            buf = []
        buf.append(_ITEM.sub("", line, count=1).strip() if _ITEM.match(line) else line.strip())
    if buf:
        yield "text", "\n".join(buf)


def _sentences(text: str) -> list[str]:
    parts = _SENTENCE_END.split(text)
    out: list[str] = []
    for p in parts:
        p = p.strip()
        if p:
            out.append(p)
    return out


def parse_file(path: Path) -> list[Clause]:
    """Every clause of one spec file, in document order."""
    file = path.name
    stem = path.stem
    section = stem
    anchor = ""
    lines: list[str] = []
    out: list[Clause] = []
    sections: list[tuple[str, str, list[str]]] = []
    for raw in path.read_text().splitlines():
        m = _HEADING.match(raw)
        if m and not raw.startswith("#!"):
            sections.append((section, anchor, lines))
            title = m.group(2)
            section = normalize(title)
            anchor = github_slug(title)
            lines = []
        else:
            lines.append(raw)
    sections.append((section, anchor, lines))
    seen: dict[str, int] = {}
    for section, anchor, body in sections:
        n = 0
        slug = anchor or stem
        for kind, item in _items(body):
            if kind == "table":
                cells = [c.strip() for c in item.strip().strip("|").split("|")]
                if len(cells) >= 3 and cells[1] in ("MUST", "SHOULD"):
                    name = cells[0].strip().strip("`").strip()
                    cid = f"{stem}:{slug}:{name}"
                    text = f"Runtimes {cells[1]} implement the option string `{name}`"
                    if cells[2].strip() and not cells[2].startswith("[^"):
                        text += f" ({normalize(cells[2]).split('.')[0]})"
                    out.append(Clause(cid, file, section, anchor, cells[1], text))
                    # Requirements inside the description cell are clauses of their own.
                    for s in _sentences(normalize(cells[2])):
                        lvl = _level(s, file)
                        if lvl == "MUST" and "MUST" in s:
                            n += 1
                            out.append(Clause(f"{stem}:{slug}:{name}-{n}", file, section,
                                              anchor, lvl, f"`{name}`: {s}"))
                continue
            for s in _sentences(item):
                text = normalize(s)
                lvl = _level(text, file)
                if lvl is None:
                    continue
                if "implement the following option strings" in text:
                    continue  # the table rows below are the clauses
                n += 1
                cid = f"{stem}:{slug}:{n}"
                if cid in seen:  # two sections with one slug
                    seen[cid] += 1
                    cid = f"{cid}.{seen[cid]}"
                seen[cid] = 0
                out.append(Clause(cid, file, section, anchor, lvl, text))
    for i, c in enumerate(out):
        _ORDINAL[c.id] = i
    return out


@functools.cache
def registry(directory: str | None = None) -> dict[str, Clause]:
    """All clauses of the six Linux-relevant spec files, by id."""
    d = Path(directory) if directory else spec_dir()
    missing = [f for f in SPEC_FILES if not (d / f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"runtime-spec {SPEC_VERSION} not found in {d} (missing {', '.join(missing)}); "
            "set PYOCI_SPEC_DIR to a checkout of opencontainers/runtime-spec"
        )
    out: dict[str, Clause] = {}
    for f in SPEC_FILES:
        for c in parse_file(d / f):
            out[c.id] = c
    return out


class ClauseNotFound(LookupError):
    pass


def find(file: str, quote: str) -> Clause:
    """The one clause of ``file`` whose text contains ``quote`` (or whose id it is).

    ``file`` may name a section too, ``runtime.md#kill``, for sentences the spec
    repeats word for word in several sections.
    """
    reg = registry()
    file, _, anchor = file.partition("#")
    if quote in reg and reg[quote].file == file:
        return reg[quote]
    q = normalize(quote)
    hits = [c for c in reg.values()
            if c.file == file and q in c.text and (not anchor or c.anchor == anchor)]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise ClauseNotFound(f"{file}: no MUST/SHOULD sentence contains {quote!r}")
    ids = ", ".join(c.id for c in hits)
    raise ClauseNotFound(f"{file}: {quote!r} is ambiguous ({ids}); quote more of it")


def main() -> int:
    """``python -m conformance.clauses``: list the clauses (id, level, text)."""
    for c in sorted(registry().values(), key=lambda c: c.order):
        print(f"{c.id}\t{c.level}\t{c.text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
