"""Errors a person can cause and act on. Anything else is a bug and keeps its traceback."""


class ModelBridgeError(Exception):
    """A problem with the user's input or request; the message says what to do."""

    exit_code = 2


class NotFound(ModelBridgeError):
    """A model, version, user or request id that does not exist."""


class InvalidInput(ModelBridgeError):
    """A value, option or column that cannot be used as given."""


class FileProblem(ModelBridgeError):
    """A whole file cannot be used: unreadable, wrong format, empty, another model's columns."""

    exit_code = 3


class PermissionDenied(ModelBridgeError):
    """The signed-in user's role does not allow the action."""


class StoreBusy(ModelBridgeError):
    """Another process held the store for longer than we are willing to wait."""


class StoreFault(ModelBridgeError):
    """The store's file or disk failed (damaged file, full disk, read-only): the unit of work
    was rolled back whole; the message says what to do."""
