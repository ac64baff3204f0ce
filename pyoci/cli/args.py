"""A small urfave/cli-compatible flag parser (argparse costs more than a whole ``state``).

Accepted forms, as runc's urfave/cli: ``--flag value``, ``--flag=value``,
``-flag value``, ``-flag=value``, short aliases (``-b DIR``), booleans with
an optional ``=true|false``, and ``--`` to end the flags.  Flags may follow
positional arguments (urfave reorders them) unless the command stops at its
first positional (``exec ID cmd -x``, ``ps ID -ef``).
"""

from __future__ import annotations

from pyoci.errors import UsageError

BOOL = "bool"
STRING = "string"
INT = "int"
LIST = "list"  # repeatable string


class Flag:
    __slots__ = ("default", "help", "kind", "names")

    def __init__(
        self, names: str, kind: str = BOOL, help: str = "", default: object = None
    ) -> None:
        self.names = tuple(n.strip() for n in names.split(","))
        self.kind = kind
        self.help = help
        if default is None:
            default = {BOOL: False, STRING: None, INT: 0, LIST: []}[kind]
        self.default = default

    @property
    def key(self) -> str:
        return self.names[0].replace("-", "_")


class Parsed:
    """Parsed flags by key (first name, dashes → underscores) and positional args."""

    def __init__(self, values: dict[str, object], args: list[str], given: set[str]) -> None:
        self.values = values
        self.args = args
        self.given = given

    def text(self, key: str) -> str | None:
        v = self.values.get(key)
        return v if isinstance(v, str) else None

    def flag(self, key: str) -> bool:
        return bool(self.values.get(key))

    def number(self, key: str) -> int:
        v = self.values.get(key, 0)
        return v if isinstance(v, int) else 0

    def items(self, key: str) -> list[str]:
        v = self.values.get(key)
        if isinstance(v, list):
            return [str(x) for x in v]
        return []


def _parse_bool(name: str, text: str) -> bool:
    low = text.lower()
    if low in ("1", "t", "true"):
        return True
    if low in ("0", "f", "false"):
        return False
    raise UsageError(f'invalid boolean value "{text}" for -{name}')


def parse(
    argv: list[str],
    flags: list[Flag],
    *,
    stop_after_positional: int | None = None,
) -> Parsed:
    """Parse ``argv`` against ``flags``.

    ``stop_after_positional=N``: after N positional arguments, everything is
    positional (``exec ID cmd -flags``).
    """
    table: dict[str, Flag] = {}
    for f in flags:
        for n in f.names:
            table[n] = f
    values: dict[str, object] = {}
    for f in flags:
        values[f.key] = [] if f.kind == LIST else f.default
    given: set[str] = set()
    args: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        i += 1
        if stop_after_positional is not None and len(args) >= stop_after_positional:
            args.append(a)
            args.extend(argv[i:])
            break
        if a == "--":
            args.extend(argv[i:])
            break
        if len(a) < 2 or a[0] != "-":
            args.append(a)
            continue
        body = a[2:] if a.startswith("--") else a[1:]
        name, eq, value = body.partition("=")
        flag = table.get(name)
        if flag is None:
            if name in ("h", "help"):
                raise UsageError(
                    "help requested",
                )
            raise UsageError(f"flag provided but not defined: -{name}")
        given.add(flag.key)
        if flag.kind == BOOL:
            values[flag.key] = _parse_bool(name, value) if eq else True
            continue
        if not eq:
            if i >= len(argv):
                raise UsageError(f"flag needs an argument: -{name}")
            value = argv[i]
            i += 1
        if flag.kind == INT:
            try:
                values[flag.key] = int(value, 0) if value.strip() else 0
            except ValueError:
                raise UsageError(f'invalid value "{value}" for flag -{name}: parse error') from None
        elif flag.kind == LIST:
            lst = values[flag.key]
            assert isinstance(lst, list)
            lst.append(value)
        else:
            values[flag.key] = value
    return Parsed(values, args, given)


def need_args(
    cmd: str, args: list[str], exactly: int | None = None, minimum: int | None = None
) -> None:
    if exactly is not None and len(args) != exactly:
        raise UsageError(f'"{cmd}" requires exactly {exactly} argument(s)')
    if minimum is not None and len(args) < minimum:
        raise UsageError(f'"{cmd}" requires a minimum of {minimum} argument(s)')
