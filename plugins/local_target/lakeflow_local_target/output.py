"""A run's log: the task's output with every ``--env-var`` value replaced by ``[REDACTED]``
before it reaches the disk, capped at ``max_log_bytes`` keeping its head and its tail.

Layout in the run's folder: ``output.log`` holds the head (the first half of the cap). Output
past it goes to numbered tail segments of a quarter of the cap each, of which only the last two
are kept, so the disk never holds much more than the cap. When the run ends the log is put
together again: head, a marker saying how much was cut, tail.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

from lakeflow_local_target import safety

DEFAULT_MAX_LOG_BYTES = 100 * 1024 * 1024
MIN_LOG_BYTES = 1024
REDACTED = b"[REDACTED]"
_LOG = "output.log"
_CUT = "output.cut"  # present once a finished run's log was cut


class Redactor:
    """Replaces secret values in a byte stream, also when a value is split across two writes."""

    def __init__(self, secrets: Iterable[str]) -> None:
        values = {s.encode("utf-8", "surrogateescape") for s in secrets if s}
        # Longest first, so that a value containing another is replaced whole.
        self.values = sorted(values, key=len, reverse=True)
        self.pending = b""

    def feed(self, data: bytes) -> bytes:
        """The part of ``pending + data`` that can be written now, redacted."""
        data = self.pending + data
        if not self.values:
            return data
        for value in self.values:
            data = data.replace(value, REDACTED)
        # Hold back the longest tail that could be the start of a value the next write completes.
        hold = 0
        for value in self.values:
            for size in range(min(len(value) - 1, len(data)), hold, -1):
                if data.endswith(value[:size]):
                    hold = size
                    break
        self.pending = data[len(data) - hold :] if hold else b""
        return data[: len(data) - hold] if hold else data

    def flush(self) -> bytes:
        rest, self.pending = self.pending, b""
        return rest


def _marker(cut: int, cap: int) -> bytes:
    return (
        f"\n[lakeflow: {cut} bytes of output cut here; the log keeps the first and the last "
        f"{cap // 2} bytes (max_log_bytes={cap})]\n"
    ).encode()


class CappedLog:
    """Writes a run's output into its folder, never holding more than about ``cap`` bytes."""

    def __init__(self, folder: Path, cap: int) -> None:
        self.folder, self.cap = folder, max(MIN_LOG_BYTES, cap)
        self.head_room = self.cap // 2
        self.segment_size = max(1, self.cap // 4)
        self.fd = safety.open_private(folder / _LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        self.head_written = os.fstat(self.fd).st_size
        self.segment = -1
        self.segment_fd: int | None = None
        self.segment_written = 0

    def write(self, data: bytes) -> None:
        if self.head_written < self.head_room:
            part = data[: self.head_room - self.head_written]
            _write_all(self.fd, part)
            self.head_written += len(part)
            data = data[len(part) :]
        while data:
            if self.segment_fd is None or self.segment_written >= self.segment_size:
                self._next_segment()
            part = data[: self.segment_size - self.segment_written]
            _write_all(self.segment_fd, part)  # type: ignore[arg-type]
            self.segment_written += len(part)
            data = data[len(part) :]

    def _next_segment(self) -> None:
        if self.segment_fd is not None:
            os.close(self.segment_fd)
        self.segment += 1
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.folder / f"tail-{self.segment - 2}")
        path = self.folder / f"tail-{self.segment}"
        self.segment_fd = safety.open_private(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        self.segment_written = 0

    def give_back_space(self) -> None:
        """On a full disk: drop the newest output (~256 KiB) so that the run's end can be
        recorded, and mark the place."""
        room = 256 * 1024
        if self.segment_fd is not None:
            os.ftruncate(self.segment_fd, max(0, self.segment_written - room))
            os.lseek(self.segment_fd, 0, os.SEEK_END)
            fd = self.segment_fd
        else:
            os.ftruncate(self.fd, max(0, self.head_written - room))
            fd = self.fd
        with contextlib.suppress(OSError):
            _write_all(fd, b"\n[lakeflow: the disk filled up here; the rest of the output was dropped]\n")

    def close(self) -> None:
        """Put head, marker and tail into ``output.log`` and drop the segments."""
        if self.segment_fd is not None:
            os.close(self.segment_fd)
            self.segment_fd = None
            _, marker, tail = read_parts(self.folder, self.cap)
            _write_all(self.fd, marker + tail)
            os.close(safety.open_private(self.folder / _CUT, os.O_WRONLY | os.O_CREAT))
            for path in _segments(self.folder):
                path.unlink()
        os.close(self.fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _segments(folder: Path) -> list[Path]:
    found = []
    for path in folder.glob("tail-*"):
        suffix = path.name[len("tail-") :]
        if suffix.isdigit():
            found.append((int(suffix), path))
    return [path for _, path in sorted(found)]


def read_parts(folder: Path, cap: int | None = None) -> tuple[bytes, bytes, bytes]:
    """Head, marker (empty when nothing was cut) and tail of the log, also while the run writes it."""
    try:
        head = safety.read_private(folder / _LOG)
    except FileNotFoundError:
        return b"", b"", b""
    segments = _segments(folder)
    if not segments:
        return head, b"", b""
    size = len(head) * 2 if cap is None else max(MIN_LOG_BYTES, cap)
    numbers = [int(p.name[len("tail-") :]) for p in segments]
    tail = b""
    for path in segments:
        with contextlib.suppress(FileNotFoundError):  # rotated away meanwhile
            tail += safety.read_private(path)
    cut = numbers[0] * max(1, size // 4)
    return head, _marker(cut, size), tail


def read_log(folder: Path) -> tuple[str, bool]:
    """The whole capped log as text, and whether anything was cut."""
    head, marker, tail = read_parts(folder)
    return (head + marker + tail).decode("utf-8", errors="replace"), bool(marker) or (folder / _CUT).exists()
