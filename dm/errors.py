"""dm's own error types. The `dm` command prints these as one line (exit code 2); anything else is a bug and
keeps its traceback. Each also derives from the builtin it refines, so `except ValueError` callers still work."""

from __future__ import annotations


class DMError(Exception):
    """A mistake in the user's input or environment that dm explains in one line."""


class ConfigError(DMError, ValueError):
    """A configuration value that is unknown, mistyped, out of range or inconsistent."""


class UsageError(DMError, ValueError):
    """A command-line argument that cannot be used (a query parameter, an output option)."""
