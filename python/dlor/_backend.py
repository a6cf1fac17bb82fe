"""How the package reaches dlor's C code: today, by running the ``dlor`` command.

Everything that starts the command is in this module, behind ``invoke``: a
binding to a shared library could replace it without touching the callers,
which only build argument lists and read the files the command writes.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence

from .errors import DlorError

ENV_VAR = "DLOR_BIN"


def find_binary() -> str:
    """The ``dlor`` executable: ``$DLOR_BIN`` when set, else ``dlor`` on ``PATH``."""
    env = os.environ.get(ENV_VAR)
    if env:
        if not (os.path.isfile(env) and os.access(env, os.X_OK)):
            raise DlorError(f"{ENV_VAR}={env} is not an executable file")
        return env
    found = shutil.which("dlor")
    if not found:
        raise DlorError(f"the dlor command was not found: set {ENV_VAR} to its path or put it on PATH "
                        "(build it with: bash scripts/setup.sh build)")
    return found


@dataclass
class Completed:
    """What a finished command left: its exit status and its two output streams."""
    returncode: int
    stdout: str
    stderr: str


def invoke(command: str, args: Sequence[str], accept: Iterable[int] = (0,),
           binary: Optional[str] = None) -> Completed:
    """Runs ``dlor COMMAND ARGS...`` and returns its exit status and output.

    An exit status outside ``accept`` raises ``DlorError`` carrying the command's
    error line and its exit status (1: bad input or a failed check, 2: usage)."""
    argv: List[str] = [binary or find_binary(), command, *args]
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True)
    except OSError as e:
        raise DlorError(f"could not run {argv[0]}: {e}", None, argv) from None
    done = Completed(p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"))
    if p.returncode not in accept:
        raise failure(command, done, argv)
    return done


def failure(command: str, done: Completed, argv: Optional[List[str]] = None) -> DlorError:
    """The ``DlorError`` for a command that failed: its error line (the last line
    it printed that names the command, else its last line) and its exit status."""
    lines = [ln.strip() for ln in done.stderr.splitlines() if ln.strip()]
    named = [ln for ln in lines if ln.startswith(f"dlor {command}:")]
    msg = (named or lines or [f"dlor {command} exited with status {done.returncode}"])[-1]
    return DlorError(msg, done.returncode, argv)
