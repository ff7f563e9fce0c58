"""The errors a user can cause (bad params, data, model settings, checkpoints, run folders), and the one way every
command line reports them: one line naming the file or key, exit code 2, no traceback."""

from __future__ import annotations

import errno
import sys
from collections.abc import Iterator
from contextlib import contextmanager


def user_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean "fix your input", each raised with a message that names the file or key."""
    from mtcontrast.config import ParamsError
    from mtcontrast.data.errors import DataError
    from mtcontrast.engine.checkpoint import CheckpointError, RunLockedError
    from mtcontrast.models.encoders import ModelError

    return (ParamsError, DataError, ModelError, CheckpointError, RunLockedError, FileNotFoundError, PermissionError)


def describe(err: BaseException) -> str:
    """One line: the error's own message; for a full disk, say so."""
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{err.filename or ''}: no space left on device".lstrip(": ")
    return str(err)


@contextmanager
def exit_on_user_error(prog: str) -> Iterator[None]:
    """Turn a user error (and a full disk) into ``<prog>: error: <message>`` on stderr and exit code 2."""
    try:
        yield
    except user_errors() as err:
        print(f"{prog}: error: {describe(err)}", file=sys.stderr)
        raise SystemExit(2) from None
    except OSError as err:
        if err.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            raise
        print(f"{prog}: error: {describe(err)}", file=sys.stderr)
        raise SystemExit(2) from None
