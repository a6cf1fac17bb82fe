"""The exceptions the package raises."""
from __future__ import annotations

from typing import Optional


class Error(Exception):
    """Base class of every error this package raises on its own account."""


class FormatError(Error, ValueError):
    """A ``.dlor`` file breaks a rule of formats/DLOR_FORMAT.md.

    The message is one line naming the file and, where there is one, the
    tensor, layer or record at fault."""


class DlorError(Error, RuntimeError):
    """The ``dlor`` command failed (or could not be started).

    ``message`` is what it printed on its error output (one line, as the
    command writes it), ``returncode`` its exit status: 1 for bad input or
    a failed check, 2 for a usage error, ``None`` when no command ran."""

    def __init__(self, message: str, returncode: Optional[int] = None,
                 command: Optional[list] = None) -> None:
        super().__init__(message)
        self.message = message
        self.returncode = returncode
        self.command = command
