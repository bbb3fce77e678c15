"""The host side of the plugin contract: who owns which name, and one typed call per hook.

Every builder and target name maps to the plugin that declared it in its ``builders`` or
``targets`` hook, and an operation hook is called on that plugin alone (pluggy's
``subset_hook_caller``), so that plugins never check names and a plugin that forgets to cannot
answer for another's target. Only :mod:`lakeflow_host.api` uses this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

from lakeflow_host.errors import LakeflowError, UnknownNameError, UnsupportedOperationError
from lakeflow_host.types import BuilderInfo, TargetInfo

if TYPE_CHECKING:
    from lakeflow_host.types import Artifact, Job, JobSpec, PruneReport, RemoteArtifact, Run, RunLogs

Options = Mapping[str, Any]


class PluginHost:
    """The loaded plugins, indexed by the builder and target names they declared."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self._callers: dict[tuple[str, int], Any] = {}
        self.builder_infos: dict[str, tuple[BuilderInfo, object]] = self._declared(pm.hook.builders, BuilderInfo)
        self.target_infos: dict[str, tuple[TargetInfo, object]] = self._declared(pm.hook.targets, TargetInfo)

    @staticmethod
    def _declared(hook: Any, kind: type) -> dict[str, tuple[Any, object]]:
        word = "builder" if kind is BuilderInfo else "target"
        owners: dict[str, tuple[Any, object]] = {}
        for impl in hook.get_hookimpls():
            for info in impl.function() or ():
                if not isinstance(info, kind):
                    raise LakeflowError(
                        f"plugin {impl.plugin_name!r} declares a {word} that is not a {kind.__name__}; "
                        f"fix the plugin or skip it with LAKEFLOW_DISABLE_PLUGINS={impl.plugin_name}"
                    )
                if info.name in owners:
                    first = owners[info.name][1]
                    raise LakeflowError(
                        f"{word} name {info.name!r} is declared by both plugins "
                        f"{_plugin_name(hook, first)!r} and {impl.plugin_name!r}; disable one with "
                        "LAKEFLOW_DISABLE_PLUGINS"
                    )
                owners[info.name] = (info, impl.plugin)
        return owners

    # -- names ------------------------------------------------------------------------------

    def builder(self, name: str) -> BuilderInfo:
        if name not in self.builder_infos:
            raise UnknownNameError("builder", name, self.builder_infos)
        return self.builder_infos[name][0]

    def target(self, name: str) -> TargetInfo:
        if name not in self.target_infos:
            raise UnknownNameError("target", name, self.target_infos)
        return self.target_infos[name][0]

    def owner_name(self, plugin: object) -> str | None:
        return self.pm.get_name(plugin)

    def _routed(self, hook: Any, plugin: object) -> Any:
        key = (hook.name, id(plugin))
        caller = self._callers.get(key)
        if caller is None:
            others = [p for p in self.pm.get_plugins() if p is not plugin]
            caller = self._callers[key] = self.pm.subset_hook_caller(hook.name, remove_plugins=others)
        return caller

    def _builder_call(self, hook: Any, builder: str, **kwargs: Any) -> Any:
        self.builder(builder)
        result = self._routed(hook, self.builder_infos[builder][1])(builder=builder, **kwargs)
        if result is None:
            raise UnsupportedOperationError(
                f"builder {builder!r} does not implement {hook.name}; use another --builder"
            )
        return result

    def _target_call(self, hook: Any, target: str, **kwargs: Any) -> Any:
        self.target(target)
        result = self._routed(hook, self.target_infos[target][1])(target=target, **kwargs)
        if result is None:
            raise UnsupportedOperationError(f"target {target!r} does not implement {hook.name}; use another --target")
        return result

    # -- one typed method per hook ----------------------------------------------------------

    def target_is_configured(self, target: str, options: Options) -> bool:
        self.target(target)
        return bool(
            self._routed(self.pm.hook.target_is_configured, self.target_infos[target][1])(
                target=target, options=options
            )
        )

    def build_artifact(self, builder: str, project_dir: Path, output_dir: Path | None, options: Options) -> Artifact:
        return self._builder_call(
            self.pm.hook.build_artifact, builder, project_dir=project_dir, output_dir=output_dir, options=options
        )

    def upload_artifact(self, target: str, artifact: Artifact, options: Options) -> RemoteArtifact:
        return self._target_call(self.pm.hook.upload_artifact, target, artifact=artifact, options=options)

    def create_job(self, target: str, spec: JobSpec, options: Options) -> Job:
        return self._target_call(self.pm.hook.create_job, target, spec=spec, options=options)

    def update_job(self, target: str, job_id: str, spec: JobSpec, options: Options) -> Job:
        return self._target_call(self.pm.hook.update_job, target, job_id=job_id, spec=spec, options=options)

    def delete_job(self, target: str, job_id: str, cancel_runs: bool, options: Options) -> Job:
        return self._target_call(
            self.pm.hook.delete_job, target, job_id=job_id, cancel_runs=cancel_runs, options=options
        )

    def prune(self, target: str, older_than_days: float, options: Options) -> PruneReport:
        return self._target_call(self.pm.hook.prune, target, older_than_days=older_than_days, options=options)

    def get_job(self, target: str, job_id: str, options: Options) -> Job:
        return self._target_call(self.pm.hook.get_job, target, job_id=job_id, options=options)

    def list_jobs(self, target: str, options: Options, name: str | None = None) -> list[Job]:
        jobs = self._target_call(self.pm.hook.list_jobs, target, name=name, options=options)
        return jobs if name is None else [job for job in jobs if job.name == name]

    def trigger_run(self, target: str, job_id: str, args: Sequence[str], options: Options) -> Run:
        return self._target_call(self.pm.hook.trigger_run, target, job_id=job_id, args=args, options=options)

    def list_job_runs(self, target: str, job_id: str | None, options: Options) -> list[Run]:
        return self._target_call(self.pm.hook.list_job_runs, target, job_id=job_id, options=options)

    def get_run(self, target: str, run_id: str, options: Options) -> Run:
        return self._target_call(self.pm.hook.get_run, target, run_id=run_id, options=options)

    def get_run_logs(self, target: str, run_id: str, options: Options) -> RunLogs:
        return self._target_call(self.pm.hook.get_run_logs, target, run_id=run_id, options=options)

    def cancel_run(self, target: str, run_id: str, options: Options) -> Run:
        return self._target_call(self.pm.hook.cancel_run, target, run_id=run_id, options=options)


def _plugin_name(hook: Any, plugin: object) -> str:
    for impl in hook.get_hookimpls():
        if impl.plugin is plugin:
            return impl.plugin_name
    return repr(plugin)
