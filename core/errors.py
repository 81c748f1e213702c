"""The error hierarchy of ftsuite. Every message says what went wrong and how to fix it."""

from __future__ import annotations

__all__ = [
    "SuiteError",
    "DataError",
    "ConfigError",
    "ModelNotFoundError",
    "ExportMismatchError",
]


class SuiteError(Exception):
    """Base class of every error ftsuite raises on purpose."""


class ConfigError(SuiteError):
    """A config file, key or value is wrong."""


class ModelNotFoundError(SuiteError):
    """A base model or artifact cannot be found; the message holds the command that provides it."""


class ExportMismatchError(SuiteError):
    """An exported graph disagrees with the torch model beyond its tolerance."""


class DataError(SuiteError):
    """Input data is unusable. Carries the file, line and column of each problem found.

    ``problems`` is a list of ``(file, line, column, message)``; ``line`` is 1-based as an
    editor shows it (``None`` when the problem is about the whole file).
    """

    def __init__(self, problems, fix: str = ""):
        if isinstance(problems, str):
            problems = [(None, None, None, problems)]
        self.problems = list(problems)
        self.fix = fix
        super().__init__(self._render())

    def _render(self) -> str:
        shown = self.problems[:10]
        lines = []
        for file, line, column, message in shown:
            where = ":".join(str(p) for p in (file, line) if p is not None)
            col = f" column '{column}'" if column else ""
            lines.append(f"{where}{col}: {message}" if where or col else message)
        more = len(self.problems) - len(shown)
        if more > 0:
            lines.append(f"... and {more} more problem(s) of the same kind")
        if self.fix:
            lines.append(f"Fix: {self.fix}")
        return "\n".join(lines)
