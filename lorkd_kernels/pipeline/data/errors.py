"""The one error type the data package raises for bad files, folders and arguments."""

from __future__ import annotations

_WORKER_PREFIX = "Caught DataError in DataLoader worker"
_ORIGINAL = "DataError: "


class DataError(ValueError):
    """A data file, folder or task name is missing or malformed; the message names which.

    Images read lazily fail inside DataLoader workers, and DataLoader re-raises the error in the
    main process as ``DataError("Caught DataError in DataLoader worker process N. Original
    Traceback ...")``. That message is rebuilt with the worker's own message first, so the
    commands' one-line report still names the file.
    """

    def __init__(self, message: str = "") -> None:
        if isinstance(message, str) and message.startswith(_WORKER_PREFIX) and _ORIGINAL in message:
            original = message[message.rindex(_ORIGINAL) + len(_ORIGINAL) :].strip()
            worker = message.splitlines()[0].removeprefix("Caught DataError in ").rstrip(".")
            message = f"{original} (in {worker})\n{message}"
        super().__init__(message)
