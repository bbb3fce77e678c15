"""Process bookkeeping for local runs: is a recorded process still ours, and stopping a tree."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat after the command name (which may hold spaces and parentheses): the state
    first, the start time at index 19. One read: every supervisor loop checks several pids."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
    except OSError:
        return None
    try:
        return os.read(fd, 4096).rsplit(b")", 1)[1].decode().split()
    except (OSError, IndexError):
        return None
    finally:
        os.close(fd)


def started(pid: int) -> str | None:
    """The process's start time as the kernel tells it; tells a reused pid apart (Linux only)."""
    fields = _stat_fields(pid)
    return fields[19] if fields else None


def alive(pid: int | None, start: str | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if start is not None:
        fields = _stat_fields(pid)
        if fields is not None and fields[19] != start:
            return False  # the pid was reused by another process
        if fields is not None and fields[0] == "Z":
            return False
    return True


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, including ones that started their own session (Linux)."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _signal_all(pid: int | None, pids: list[int], sig: int) -> None:
    if pid is not None:
        try:
            os.killpg(pid, sig)  # runs start their own session, so the group is the run's tree
        except (ProcessLookupError, PermissionError):
            pass
    for other in pids:
        try:
            os.kill(other, sig)
        except (ProcessLookupError, PermissionError):
            pass


def kill_tree(pid: int, grace: float = 3.0) -> None:
    """SIGTERM the run's whole tree, then SIGKILL whatever is left after ``grace`` seconds."""
    tree = descendants(pid)
    _signal_all(pid, tree, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not any(alive(p, started(p)) for p in (pid, *tree)):
            return
        time.sleep(0.05)
    _signal_all(pid, tree + descendants(pid), signal.SIGKILL)


def kill_descendants(pid: int, grace: float = 3.0) -> None:
    """SIGTERM every process below ``pid`` (a subreaper, so orphans stay below it), then
    SIGKILL whatever is left after ``grace`` seconds; ``pid`` itself is spared."""
    tree = descendants(pid)
    _signal_all(None, tree, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        tree = [p for p in tree if alive(p, started(p))] + [p for p in descendants(pid) if p not in tree]
        if not tree:
            return
        time.sleep(0.05)
    _signal_all(None, tree + descendants(pid), signal.SIGKILL)
