"""The lakeflow demo: build examples/lakeflow_demo, launch four runs, wait, print each run's log.

python examples/run_lakeflow_demo.py            # on the local target (no account needed)
python examples/run_lakeflow_demo.py --target databricks --max-workers 4
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import lakeflow_host as lf

PROJECT = Path(__file__).resolve().parent / "lakeflow_demo"
ARGUMENTS = ["fi", "fie", "fo", "fum"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", help="where to run (default: databricks if configured, else local)")
    parser.add_argument("--max-workers", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=600)
    options = parser.parse_args()

    try:
        target = lf.resolve_target(options.target)
        print(f"launching {len(ARGUMENTS)} runs of {PROJECT.name} on the {target} target", file=sys.stderr)
        launch = lf.launch(
            PROJECT,
            [[arg] for arg in ARGUMENTS],
            target=target,
            max_workers=options.max_workers,
            on_step=lambda message: print(f"  {message}", file=sys.stderr),
        )
        print(f"job {launch.job.job_id}: runs {', '.join(run.run_id for run in launch.runs)}", file=sys.stderr)
        runs = lf.wait([run.run_id for run in launch.runs], target=target, timeout=options.timeout)
        for run in runs:
            logs = lf.get_run_logs(run.run_id, target=target)
            print(f"--- run {run.run_id} ({' '.join(run.args)}): {run.state}")
            print(logs.text.rstrip())
            if logs.error:
                print(logs.error)
    except lf.LakeflowError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    return 0 if all(run.state is lf.RunState.SUCCEEDED for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
