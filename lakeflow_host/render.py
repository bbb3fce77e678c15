"""How lakeflow's values look in a terminal: tables, times, the progress line."""

from __future__ import annotations

import json
import time
import unicodedata
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lakeflow_host.types import BuilderInfo, Run, RunState, to_jsonable

if TYPE_CHECKING:
    from lakeflow_host.results import Job, PluginInfo


def as_json(value: Any) -> str:
    return json.dumps(to_jsonable(value), indent=2, ensure_ascii=False)


def when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 120:
        return f"{value:.1f}s"
    minutes, secs = divmod(int(value), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{secs:02d}s"


def cell(text: str) -> str:
    """``text`` on one line: newlines, tabs and other control characters shown escaped, so that
    a task's argument or message cannot break a table or move the terminal's cursor."""
    if text.isprintable():
        return text
    out = []
    for char in text:
        if char.isprintable():
            out.append(char)
        elif char in _ESCAPES:
            out.append(_ESCAPES[char])
        else:
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    return "".join(out)


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def width(text: str) -> int:
    """Columns ``text`` takes in a terminal: wide (CJK, most emoji) characters take two,
    combining marks none."""
    if text.isascii():  # every ASCII character takes one column; most cells are ASCII
        return len(text)
    total = 0
    for char in text:
        if unicodedata.combining(char) or char in "\u200b\u200d\ufe0f":
            continue
        total += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return total


def _pad(text: str, columns: int) -> str:
    return text + " " * (columns - width(text))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    rows = [[cell(c) for c in r] for r in rows]
    widths = [max([width(h)] + [width(r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = ["  ".join(_pad(h, w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(_pad(c, w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def _args(args: Sequence[str], columns: int = 40) -> str:
    import shlex

    text = cell(shlex.join(args))
    if width(text) <= columns:
        return text
    while width(text) > columns - 1:
        text = text[:-1]
    return text + "…"


def runs_table(runs: Sequence[Run], with_job: bool = False) -> str:
    rows = []
    for run in runs:
        duration = run.duration
        if duration is None and run.start_time and not run.state.is_final:
            duration = time.time() - run.start_time
        exit_code = "-" if run.exit_code is None else str(run.exit_code)
        rows.append(
            ([run.job_id] if with_job else [])
            + [
                run.run_id,
                run.state.value,
                when(run.start_time),
                seconds(duration),
                exit_code,
                _args(run.args),
                run.url or run.message or "",
            ]
        )
    headers = ["RUN", "STATE", "STARTED", "DURATION", "EXIT", "ARGS", "DETAIL"]
    return table((["JOB"] if with_job else []) + headers, rows)


def jobs_table(jobs: Sequence[Job]) -> str:
    rows = [
        [j.job_id, j.name, j.package, str(j.max_workers), str(j.max_concurrent_runs), when(j.created_time), j.url or ""]
        for j in jobs
    ]
    return table(["JOB", "NAME", "PACKAGE", "MAX WORKERS", "MAX CONCURRENT", "CREATED", "URL"], rows)


def plugins_table(plugins: Sequence[PluginInfo]) -> str:
    rows = [
        [
            p.name,
            "+".join(p.kinds) or "-",
            ",".join(p.builders) or "-",
            ",".join(p.targets) or "-",
            p.distribution or "-",
            p.version or "-",
        ]
        for p in plugins
    ]
    text = table(["PLUGIN", "KIND", "BUILDERS", "TARGETS", "DISTRIBUTION", "VERSION"], rows)
    options = [
        [
            opt.name,
            f"{'builder' if isinstance(info, BuilderInfo) else 'target'} {info.name}",
            "|".join(opt.choices) if opt.choices else opt.type.__name__,
            opt.flag_name if opt.flag else "-",
            opt.help,
        ]
        for plugin in plugins
        for info in plugin.provides
        for opt in info.options
    ]
    if options:
        text += "\n\n" + table(["OPTION", "OF", "TYPE", "FLAG", "DESCRIPTION"], options)
    return text


def progress(runs: Sequence[Run]) -> str:
    counts = Counter(run.state for run in runs)
    done = sum(n for state, n in counts.items() if state.is_final)
    parts = [f"{counts[s]} {s.value.lower()}" for s in RunState if counts[s]]
    return f"{done}/{len(runs)} finished: " + ", ".join(parts)


def progress_bar(runs: Sequence[Run], elapsed: float, columns: int = 20) -> str:
    """The live line of a terminal: a bar, the counts by state, elapsed time and an estimate of
    the rest (from the pace so far)."""
    done = sum(1 for run in runs if run.state.is_final)
    filled = columns * done // len(runs) if runs else columns
    bar = "[" + "#" * filled + "-" * (columns - filled) + "]"
    text = f"{bar} {progress(runs)} | {seconds(elapsed)} elapsed"
    if 0 < done < len(runs):
        text += f", ~{seconds(elapsed / done * (len(runs) - done))} left"
    return text
