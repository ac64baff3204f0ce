"""The operations: the parent side of every verb, the one layer that both the
CLI (:mod:`pyoci.cli`) and the embedding API (:mod:`pyoci.api`,
:mod:`pyoci.sandbox`) call.

Layers, top to bottom::

    pyoci.cli, pyoci.sandbox, pyoci.api     command line / embedding
    pyoci.ops                               create, start, kill, delete, exec, update, ...
    pyoci.init, pyoci.cgroups, pyoci.seccomp,
    pyoci.criu, pyoci.dbus, pyoci.spec, pyoci.state
    pyoci.native                            every raw syscall (cffi)
    pyoci.util                              small lean helpers any layer uses

- :mod:`pyoci.ops.lifecycle`: state, list, start, kill, delete (the lean verbs
  engines call most; they import nothing heavy);
- :mod:`pyoci.ops.container`: create and run;
- :mod:`pyoci.ops.exec`: exec;
- :mod:`pyoci.ops.cgroup_verbs`: update, pause, resume, ps, events;
- :mod:`pyoci.ops.hooks`, :mod:`pyoci.ops.netdevices`,
  :mod:`pyoci.ops.console_proxy`: what those verbs run around the container.

Empty on purpose: importing one operation must not import the others.
"""
