"""Checkpoint and restore through CRIU, as runc does it (``criu swrk`` RPC).

Why the RPC and not CRIU's command line: runc's behaviour depends on what only
the RPC carries back while CRIU works: NOTIFY callbacks (``setup-namespaces``
to run the prestart/createRuntime hooks with the restored init's pid,
``post-restore`` with that pid, ``orphan-pts-master`` handing over a
terminal's pty master fd over the socket, ``status-ready`` for lazy pages),
fds handed to CRIU by number (images/work dirs, external namespaces), and
``rst_sibling`` which makes the restored init a child of the runtime.

Why a hand-written protobuf encoder (``wire``, ``messages``) and no bindings:
Debian's criu ships ``pycriu.rpc_pb2`` for the system interpreter only, and it
needs ``python3-protobuf``: importing it took 0.4-1.1 s on the development
machine, against 0.4-0.6 ms for ``pyoci.criu.wire``; PyPI's ``pycriu`` is
the same generated module.  CRIU's RPC is proto2 with a few dozen scalar,
string and nested fields, which 150 lines encode; ``tests/unit/test_criu_rpc.py``
checks the bytes against pycriu's.  No CRIU code is copied: the field numbers
are the interface (``messages``).

Modules: ``wire`` (protobuf wire format), ``messages`` (criu_req/criu_resp
tables), ``swrk`` (one CRIU process and its socket), ``options`` (runc's
flags → criu_opts), ``mounts`` (external mounts and cgroup roots), ``ops``
(the checkpoint and restore verbs).
"""
