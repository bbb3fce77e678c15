"""How lakeflow's values look in a terminal: tables, times, the progress line."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from lakeflow_host.types import BuilderInfo, Job, PluginInfo, Run, RunState, to_jsonable


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


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def _args(args: Sequence[str], width: int = 40) -> str:
    import shlex

    text = shlex.join(args)
    return text if len(text) <= width else text[: width - 1] + "…"


def runs_table(runs: Sequence[Run]) -> str:
    rows = []
    for run in runs:
        duration = run.duration
        if duration is None and run.start_time and not run.state.is_final:
            duration = time.time() - run.start_time
        exit_code = "-" if run.exit_code is None else str(run.exit_code)
        rows.append(
            [
                run.run_id,
                run.state.value,
                when(run.start_time),
                seconds(duration),
                exit_code,
                _args(run.args),
                run.url or run.message or "",
            ]
        )
    return table(["RUN", "STATE", "STARTED", "DURATION", "EXIT", "ARGS", "DETAIL"], rows)


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
