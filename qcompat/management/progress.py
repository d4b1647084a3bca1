"""A text progress bar for long management commands, with no dependency."""

from __future__ import annotations

from django.core.management.base import OutputWrapper

_WIDTH = 30


class ProgressBar:
    """Redrawn in place on a terminal; elsewhere (a log file, CI), one line per tenth done."""

    def __init__(self, stream: OutputWrapper, total: int, label: str, enabled: bool = True) -> None:
        self.stream = stream
        self.total = total
        self.label = label
        self.enabled = enabled
        self.terminal = stream.isatty()
        self._tenths_shown = -1

    def render(self, done: int) -> str:
        fraction = done / self.total if self.total else 1.0
        filled = round(fraction * _WIDTH)
        bar = "#" * filled + "-" * (_WIDTH - filled)
        return f"{self.label} [{bar}] {fraction:4.0%} {done}/{self.total}"

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        if self.terminal:
            self.stream.write("\r" + self.render(done), ending="")
            self.stream.flush()
            return
        tenths = int(10 * done / self.total) if self.total else 10
        if tenths > self._tenths_shown:
            self._tenths_shown = tenths
            self.stream.write(self.render(done))

    def finish(self) -> None:
        """Show the bar full, and end its line."""
        if not self.enabled:
            return
        self.update(self.total)
        if self.terminal:
            self.stream.write("")
