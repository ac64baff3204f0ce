"""The raw calls a runtime process makes itself (``run`` and ``exec`` waiting
in the foreground), without cffi: ``pyoci.native._lean`` is a plain C
extension (pyoci/native/_lean.c).  Importing ``_cffi_backend`` and
``pyoci.native._lib`` costs ~0.3 MB resident, a third of what ``run``'s
process held above runc's peak; stage 1 and the init use ``pyoci.native``."""

from __future__ import annotations

from pyoci.native._lean import prctl as _prctl

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def set_child_subreaper() -> None:
    """Become the reaper of our orphaned descendants (raises OSError)."""
    _prctl(PR_SET_CHILD_SUBREAPER, 1)


def die_with_parent(parent: int) -> None:
    """SIGKILL us when our parent (pid ``parent``) dies; exit now if it already
    has (it died between the fork and this call)."""
    import posix

    _prctl(PR_SET_PDEATHSIG, 9)
    if posix.getppid() != parent:
        posix._exit(1)
