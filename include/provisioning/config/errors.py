"""The one error type a bad config produces: it names the file, each field path and the problem."""

from __future__ import annotations

from pathlib import Path


class ConfigError(ValueError):
    """A config file that cannot be used; ``problems`` lists every ``(field path, message)``."""

    def __init__(self, path: Path | str, problems: list[tuple[str, str]]):
        self.path = str(path)
        self.problems = problems
        lines = [f"{self.path}: invalid app config ({len(problems)} problem(s))"]
        lines += [f"  {loc or '<file>'}: {message}" for loc, message in problems]
        super().__init__("\n".join(lines))
