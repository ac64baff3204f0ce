"""linux.seccomp → a classic BPF seccomp filter.

Split so that each side imports only what it needs:

- ``compile``: in the runtime parent, before fork; uses libseccomp
  (``pyoci.native._seccomp``) to turn the profile into a ``SeccompProgram``.
- ``load``: in the container init, the last step before execve; installs the
  program's bytes with seccomp(2).  Imports neither libseccomp nor the compiler.
- ``notify``: in the runtime parent; hands the listener fd of a profile that uses
  ``SCMP_ACT_NOTIFY`` to the agent at ``listenerPath``.
- ``features``: the ``linux.seccomp`` part of ``pyoci features``.

Nothing here is imported unless the config has ``linux.seccomp`` (or for
``features``).
"""
