"""``pyoci.run()`` and ``pyoci.run_async()``: one call for the common case."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from pyoci.sandbox.config import Config, Mount
from pyoci.sandbox.container import Container, StdioArg, stdio_args
from pyoci.sandbox.results import CalledProcessError, Completed, TimeoutExpired


def make_config(
    args: Sequence[str],
    rootfs: str | os.PathLike[str] | None,
    config: Config | None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    user: int | str | tuple[int, int] | None = None,
    memory: int | str | None = None,
    pids: int | None = None,
    cpus: float | None = None,
    network: bool = False,
    readonly: bool = True,
    mounts: Sequence[Mount] = (),
) -> Config:
    """A ``Config`` from ``run()``'s keywords (over ``config`` when given)."""
    if config is not None:
        cfg = config.copy().args(args)
    elif rootfs is None:
        raise TypeError("run() needs rootfs= or config=")
    else:
        cfg = Config(args, rootfs=rootfs)
    if env is not None:
        cfg.env(env)
    if cwd is not None:
        cfg.cwd(cwd)
    if user is not None:
        cfg.user(user)
    cfg.limits(memory=memory, pids=pids, cpus=cpus)
    cfg.network(network)
    cfg.readonly(readonly)
    for m in mounts:
        cfg.mount(m)
    return cfg


def run(
    args: Sequence[str],
    rootfs: str | os.PathLike[str] | None = None,
    *,
    config: Config | None = None,
    input: bytes | str | None = None,
    stdin: StdioArg = None,
    stdout: StdioArg = None,
    stderr: StdioArg = None,
    capture_output: bool = False,
    timeout: float | None = None,
    check: bool = False,
    text: bool = False,
    encoding: str | None = None,
    errors: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    user: int | str | tuple[int, int] | None = None,
    memory: int | str | None = None,
    pids: int | None = None,
    cpus: float | None = None,
    network: bool = False,
    readonly: bool = True,
    mounts: Sequence[Mount] = (),
    max_output: int | None = None,
    root: str | None = None,
) -> Completed:
    """Run ``args`` in a new container on ``rootfs`` and return a ``Completed``
    once it has exited and has been deleted.

    As ``subprocess.run``, except: ``env`` adds to the OCI default (``PATH``
    only; the host environment is never passed), ``cwd`` is in the container,
    the root is read-only and the network is a namespace with only ``lo``
    unless asked otherwise.  ``timeout`` (counted from the start of the
    process, as ``subprocess`` counts from the spawn: the set-up before it is
    not included) kills every process of the container,
    deletes it, then raises :class:`TimeoutExpired` (``stdout``/``stderr`` hold
    the output so far, ``result`` the accounting).  ``check=True`` raises
    :class:`CalledProcessError` for a non-zero returncode.  ``max_output``:
    the most bytes kept of each captured stream; past it the container is
    killed and the result says ``truncated``.
    """
    cfg = make_config(
        args, rootfs, config, env=env, cwd=cwd, user=user, memory=memory, pids=pids,
        cpus=cpus, network=network, readonly=readonly, mounts=mounts,
    )
    stdin, stdout, stderr = stdio_args(input, stdin, stdout, stderr, capture_output)
    with Container(
        cfg, stdin=stdin, stdout=stdout, stderr=stderr, text=text, encoding=encoding,
        errors=errors, root=root, _run=True,
    ) as c:
        c.max_output = max_output
        try:
            out, err = c.communicate(input, timeout)
        except TimeoutExpired:
            c.kill()
            out, err = c.communicate()
            result = c.result(out, err, timed_out=True)
            c.delete(force=True)
            raise TimeoutExpired(result.args, timeout or 0.0, out, err, result) from None
        result = c.result(out, err)
        c.delete(force=True)
    if check and result.returncode:
        raise CalledProcessError(result.returncode, result.args, out, err, result)
    return result


async def run_async(
    args: Sequence[str],
    rootfs: str | os.PathLike[str] | None = None,
    *,
    config: Config | None = None,
    input: bytes | str | None = None,
    stdin: StdioArg = None,
    stdout: StdioArg = None,
    stderr: StdioArg = None,
    capture_output: bool = False,
    timeout: float | None = None,
    check: bool = False,
    text: bool = False,
    encoding: str | None = None,
    errors: str | None = None,
    root: str | None = None,
    max_output: int | None = None,
    **limits: Any,
) -> Completed:
    """``run()`` for asyncio: the loop waits on the shim's socket and the
    pipes (no thread).  Cancelling it kills and deletes the container, then
    re-raises ``CancelledError``."""
    import asyncio

    cfg = make_config(args, rootfs, config, **limits)
    stdin, stdout, stderr = stdio_args(input, stdin, stdout, stderr, capture_output)
    c = await Container.create_async(
        cfg, stdin=stdin, stdout=stdout, stderr=stderr, text=text, encoding=encoding,
        errors=errors, root=root, _run=True,
    )
    async with c:
        c.max_output = max_output
        try:
            out, err = await asyncio.wait_for(c.communicate_async(input), timeout)
        except TimeoutError:
            c.kill()
            out, err = await c.communicate_async()
            result = c.result(out, err, timed_out=True)
            await c.delete_async(force=True)
            raise TimeoutExpired(result.args, timeout or 0.0, out, err, result) from None
        result = c.result(out, err)
        await c.delete_async(force=True)
    if check and result.returncode:
        raise CalledProcessError(result.returncode, result.args, out, err, result)
    return result
