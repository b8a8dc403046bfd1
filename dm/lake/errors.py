"""The lake's error type, importable without the store (the CLI prints it as one line)."""

from dm.errors import DMError


class LakeError(DMError, RuntimeError):
    """A lake that cannot be used as asked (missing, of another config, corrupt, locked, read-only)."""
