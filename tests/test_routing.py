"""The host routes each call to the plugin that declared the name, and owns plugin options.

These register plugin objects in this process (``lakeflow_host.plugins.registered``), as llm's
tests do, so that each host rule is checked without a pip install; the end-to-end version of each
rule runs through the installed CLI in tests/test_third_party_plugin.py.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

import lakeflow_host as lf
from lakeflow_host import Option, Run, RunState, TargetInfo, hookimpl, hookspecs
from lakeflow_host.plugins import registered

REPO = Path(__file__).resolve().parent.parent


class Recorder:
    """A target that records what it was asked; it never checks the name it was called for."""

    def __init__(self, name: str, options: tuple[Option, ...] = ()) -> None:
        self.name, self.options = name, options
        self.calls: list[tuple[str, str, Mapping[str, Any]]] = []

    @hookimpl
    def targets(self) -> list[TargetInfo]:
        return [TargetInfo(self.name, self.options, triggers_in_flight=1)]

    @hookimpl
    def trigger_run(self, target: str, job_id: str, args: Sequence[str], options: Mapping[str, Any]) -> Run:
        self.calls.append((target, job_id, dict(options)))
        return Run(target, f"{self.name}-run", job_id, RunState.QUEUED, tuple(args))


@pytest.fixture
def alpha_beta(home: Path):
    alpha = Recorder("alpha", (Option("size", "How big.", type=int, default=2, minimum=1, maximum=64),))
    beta = Recorder(
        "beta",
        (
            Option("fast", "Go fast.", type=bool),
            Option("mode", "Which mode.", choices=("STANDARD", "PERFORMANCE_OPTIMIZED")),
            Option("token", "A secret.", secret=True, envvar="BETA_TOKEN"),
        ),
    )
    with registered(alpha, "alpha_plugin"), registered(beta, "beta_plugin"):
        yield alpha, beta


def test_a_call_reaches_only_the_plugin_that_declared_the_target(alpha_beta) -> None:
    alpha, beta = alpha_beta
    run = lf.trigger_run("7", ["x"], target="alpha")
    assert (run.run_id, run.args) == ("alpha-run", ("x",))
    # Before routing, every plugin saw every call and the first non-None answer won: beta,
    # which checks no name, would have answered (or been asked) for alpha.
    assert [c[:2] for c in alpha.calls] == [("alpha", "7")] and beta.calls == []
    lf.trigger_run("8", [], target="beta")
    assert [c[:2] for c in beta.calls] == [("beta", "8")] and len(alpha.calls) == 1


def test_a_hook_the_owner_does_not_implement_is_one_line_naming_it(alpha_beta) -> None:
    with pytest.raises(lf.UnsupportedOperationError, match=r"^target 'alpha' does not implement cancel_run; "):
        lf.cancel_run("1", target="alpha")


def test_options_arrive_typed_with_defaults_and_only_the_owners(alpha_beta, monkeypatch) -> None:
    alpha, beta = alpha_beta
    lf.trigger_run("1", [], target="alpha", options={"size": "16"})
    lf.trigger_run("1", [], target="alpha")
    assert [c[2] for c in alpha.calls] == [{"size": 16}, {"size": 2}]
    monkeypatch.setenv("BETA_TOKEN", "from-env")
    lf.trigger_run("1", [], target="beta", options={"fast": "yes", "mode": "performance_optimized"})
    assert beta.calls[-1][2] == {"fast": True, "mode": "PERFORMANCE_OPTIMIZED", "token": "from-env"}


@pytest.mark.parametrize(
    ("target", "options", "message"),
    [
        ("alpha", {"sise": "3"}, "unknown option 'sise' for target alpha (available: size)"),
        (
            "alpha",
            {"fast": "true"},
            "unknown option 'fast' for target alpha (available: size); it is an option of target beta",
        ),
        ("alpha", {"size": "0"}, "option 'size' of target alpha takes a value from 1 to 64, not '0'"),
        (
            "alpha",
            {"size": str(10**26)},
            "option 'size' of target alpha takes a value from 1 to 64, not '1" + "0" * 26 + "'",
        ),
        ("alpha", {"size": "many"}, "option 'size' of target alpha takes a whole number, not 'many'"),
        ("beta", {"fast": "perhaps"}, "option 'fast' of target beta takes true or false, not 'perhaps'"),
        (
            "beta",
            {"mode": "turbo"},
            "option 'mode' of target beta takes one of STANDARD, PERFORMANCE_OPTIMIZED, not 'turbo'",
        ),
        ("beta", {"token": "hunter2"}, None),
    ],
)
def test_bad_options_are_one_line_before_the_plugin_is_called(alpha_beta, target, options, message) -> None:
    alpha, beta = alpha_beta
    if message is None:  # a valid secret: accepted, and never part of any message
        lf.trigger_run("1", [], target=target, options=options)
        return
    with pytest.raises(lf.LakeflowError) as caught:
        lf.trigger_run("1", [], target=target, options=options)
    assert str(caught.value).startswith(message)
    assert alpha.calls == [] and beta.calls == []


def test_a_secret_options_bad_value_is_never_echoed(home: Path) -> None:
    target = Recorder("gamma", (Option("key", "A secret number.", type=int, secret=True),))
    with registered(target, "gamma_plugin"), pytest.raises(lf.LakeflowError) as caught:
        lf.trigger_run("1", [], target="gamma", options={"key": "s3cr3t-value"})
    assert "s3cr3t" not in str(caught.value) and "option 'key' of target gamma" in str(caught.value)


def test_registration_lasts_for_the_block_only(home: Path) -> None:
    with registered(Recorder("delta"), "delta_plugin"):
        assert "delta" in lf.targets()
        assert "delta_plugin" in {p.name for p in lf.list_plugins()}
    assert "delta" not in lf.targets()
    with pytest.raises(lf.UnknownNameError, match=r"^Unknown target: delta \(available: "):
        lf.trigger_run("1", [], target="delta")


def test_two_plugins_declaring_one_name_are_refused_naming_both(home: Path) -> None:
    with registered(Recorder("twin"), "first_plugin"), registered(Recorder("twin"), "second_plugin"):
        with pytest.raises(
            lf.LakeflowError, match="target name 'twin' is declared by both plugins 'first_plugin' and 'second_plugin'"
        ):
            lf.targets()


def test_an_unknown_builder_option_names_the_builder_and_its_options(home: Path) -> None:
    with pytest.raises(lf.LakeflowError) as caught:
        lf.build_wheel(REPO / "examples" / "lakeflow_demo", options={"rebuid": "true"})
    assert str(caught.value) == "unknown option 'rebuid' for builder uv (available: rebuild)"


def test_an_option_of_another_stage_says_where_it_belongs(home: Path) -> None:
    stage = Recorder("epsilon", (Option("cluster", "The cluster.", stages=("job",)),))
    with registered(stage, "epsilon_plugin"), pytest.raises(lf.LakeflowError) as caught:
        lf.trigger_run("1", [], target="epsilon", options={"cluster": "c1"})
    assert str(caught.value).startswith(
        "option 'cluster' of target epsilon shapes create-job (and launch), not this command"
    )


# -- the house rules the routing made possible, checked in the source ------------------------------


def test_no_plugin_checks_the_name_it_was_called_for() -> None:
    gates = re.compile(r"\b(target|builder)\s*(!=|==)\s*NAME\b")
    offenders = [
        f"{path.relative_to(REPO)}:{number}"
        for path in [*REPO.glob("plugins/*/*/*.py"), *REPO.glob("tests/third_party_plugin/*/*.py")]
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if gates.search(line)
    ]
    assert offenders == []


def test_the_host_never_calls_a_hook_by_its_name_in_a_string() -> None:
    """``getattr(pm.hook, "get_run")`` or ``subset_hook_caller("get_run")`` hide a misspelled
    hook until run time and give type checkers ``Any``; the host calls ``pm.hook.get_run``."""
    hooks = {name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "lakeflow_spec")}
    found = []
    for path in (REPO / "lakeflow_host").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                if name in ("getattr", "subset_hook_caller", "_call", "_target_call"):
                    found += [
                        f"{path.name}:{node.lineno} {arg.value!r}"
                        for arg in node.args
                        if isinstance(arg, ast.Constant) and arg.value in hooks
                    ]
    assert found == []


def test_the_host_finds_the_hook_implementations_pluggy_finds():
    # The host's manager reads a plugin module's hookimpls from its __dict__ (fast); pluggy's
    # own look-up is the reference: both must find exactly the same implementations.
    import importlib
    import types

    import pluggy

    from lakeflow_host.discovery import entry_points
    from lakeflow_host.plugins import PluginManager

    plugins: list[object] = [importlib.import_module(ep.value) for ep in entry_points()]
    module = types.ModuleType("half_hooked")
    module.targets = Recorder("mod").targets.__func__  # a hookimpl among plain attributes
    module.helper, module.NAME, module.os = (lambda: None), "mod", importlib
    plugins += [Recorder("object"), module]

    def found(manager: pluggy.PluginManager) -> list[tuple[str, str]]:
        manager.add_hookspecs(hookspecs)
        for index, plugin in enumerate(plugins):
            manager.register(plugin, name=str(index))
        return sorted(
            (name, impl.plugin_name) for name, caller in vars(manager.hook).items() for impl in caller.get_hookimpls()
        )

    ours, reference = found(PluginManager("lakeflow")), found(pluggy.PluginManager("lakeflow"))
    assert ours == reference
    assert ("targets", str(len(plugins) - 1)) in ours and ("trigger_run", str(len(plugins) - 2)) in ours
