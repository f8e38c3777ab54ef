"""Human sizes and times, and the progress bar."""

from __future__ import annotations

import time
from typing import TextIO


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


def clock(seconds: float) -> str:
    if seconds != seconds or seconds < 0 or seconds > 360000:
        return "--:--"
    s = int(seconds + 0.5)
    return (
        f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


class Progress:
    """A progress bar on a terminal; on anything else, a line at every 10 %."""

    def __init__(self, label: str, total: int, out: TextIO, enabled: bool = True) -> None:
        self.label, self.total, self.out, self.enabled = label, total, out, enabled
        self.tty = out.isatty()
        self.start = time.monotonic()
        self.last_draw = 0.0
        self.last_step = -1
        self.done = 0

    def update(self, done: int) -> None:
        self.done = done
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty:
            if now - self.last_draw >= 0.1 or done >= self.total:
                self.last_draw = now
                self.out.write("\r" + self.line(now))
                self.out.flush()
            return
        step = done * 10 // self.total if self.total else 10
        if step != self.last_step:
            self.last_step = step
            self.out.write(self.line(now) + "\n")
            self.out.flush()

    def line(self, now: float) -> str:
        elapsed = max(now - self.start, 1e-6)
        rate = self.done / elapsed
        pct = self.done * 100 / self.total if self.total else 100.0
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        width = 24
        fill = int(width * pct / 100)
        bar = "#" * fill + "-" * (width - fill)
        return (
            f"{self.label} {pct:5.1f}% [{bar}] {human(self.done)}/{human(self.total)} "
            f"{human(rate)}/s {clock(left)} left"
        )

    def note(self, text: str) -> None:
        """A line about the transfer (an interruption and its retry), always shown."""
        self.out.write(("\n" if self.enabled and self.tty else "") + f"{self.label}: {text}\n")
        self.out.flush()

    def finish(self) -> None:
        if self.enabled and self.tty:
            self.out.write("\n")
            self.out.flush()
