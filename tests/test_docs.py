"""The documentation tells the truth: every hook is documented with its exact signature, the
plugin guide's example plugin works, every hook is exercised by a test, and the README's test
command is the one CI runs (after datasette's tests/test_docs.py and test_plugin_hooks_have_tests)."""

from __future__ import annotations

import ast
import inspect
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lakeflow_host import hookspecs
from lakeflow_host.plugins import make_plugin_manager

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"
PLUGINS_DOC = REPO / "docs" / "plugins.md"
README = REPO / "README.md"
CI_RUN = REPO / ".ci" / "run"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def hook_specs() -> dict[str, Callable[..., Any]]:
    """Every function in lakeflow_host.hookspecs marked as a hookspec, by name."""
    return {name: fn for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, "lakeflow_spec")}


def heading(name: str, fn: Callable[..., Any]) -> str:
    """The section heading docs/plugins.md must have: ``### name(arg, ...)``."""
    return f"### {name}({', '.join(inspect.signature(fn).parameters)})"


def typed_signature(name: str, fn: Callable[..., Any]) -> str:
    """``def name(arg: type, ...) -> type``, from the hookspec's own annotations (which are
    strings: hookspecs.py uses ``from __future__ import annotations``)."""
    sig = inspect.signature(fn)
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"def {name}({params}) -> {sig.return_annotation}"


def doc_sections() -> dict[str, str]:
    """The text under each ``### `` heading of the plugin guide, keyed by the heading line."""
    sections: dict[str, str] = {}
    current = None
    for line in PLUGINS_DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            current = line.strip() if line.startswith("### ") else None
            if current:
                sections[current] = ""
        elif current:
            sections[current] += line + "\n"
    return sections


def test_there_are_hooks() -> None:
    assert {
        "build_artifact",
        "upload_artifact",
        "create_job",
        "trigger_run",
        "list_job_runs",
        "get_run",
        "get_run_logs",
        "cancel_run",
    } <= set(hook_specs())


@pytest.mark.parametrize("name", sorted(hook_specs()))
def test_hook_is_documented_with_its_exact_signature(name: str) -> None:
    fn = hook_specs()[name]
    sections = doc_sections()
    title = heading(name, fn)
    assert title in sections, f"docs/plugins.md has no section headed {title!r}"
    body = sections[title]
    assert typed_signature(name, fn) in body, f"the section {title!r} lacks {typed_signature(name, fn)!r}"
    # Whether only the first answer counts changes how a plugin must behave: the docs must say so.
    firstresult = getattr(make_plugin_manager().hook, name).spec.opts["firstresult"]
    assert ("**firstresult**" in body) == firstresult, f"{title}: mark it **firstresult** iff the spec is"
    assert "@hookimpl" in body, f"the section {title!r} has no example"


def test_the_hook_reference_is_the_hookspecs_word_for_word() -> None:
    """The contract is written once: docs/plugins.md's "Every hook" section is exactly what
    docs/hook_reference.py renders from hookspecs.py (run it to regenerate)."""
    sys.path.insert(0, str(REPO / "docs"))
    try:
        import hook_reference
    finally:
        sys.path.remove(str(REPO / "docs"))
    assert set(hook_reference.ORDER) == set(hook_specs()), "add the hook to docs/hook_reference.py ORDER and EXAMPLES"
    text = PLUGINS_DOC.read_text(encoding="utf-8")
    start = text.index("## Every hook")
    end = text.index("\n## ", start + 1)
    assert text[start:end].strip() == hook_reference.render().strip(), "run `python docs/hook_reference.py`"


def test_no_section_documents_a_hook_that_does_not_exist() -> None:
    text = PLUGINS_DOC.read_text(encoding="utf-8")
    reference = text.split("## Every hook", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^### (\w+)\(", reference, re.MULTILINE)
    assert sorted(documented) == sorted(hook_specs()), "the hook reference and hookspecs.py differ"


def code_blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(PLUGINS_DOC.read_text(encoding="utf-8")) if lang == language]


def test_python_examples_are_valid_python() -> None:
    checked = 0
    for block in code_blocks("python"):
        if re.fullmatch(r"def \w+\(.*\) -> .+\n", block):
            continue  # a signature line, not code
        ast.parse(block)  # raises SyntaxError with the line
        checked += 1
    assert checked >= len(hook_specs())


def test_the_guides_example_plugin_and_its_tests_work(tmp_path: Path) -> None:
    """The guide's complete example (blocks that start with ``# <file name>``) is real: write
    the files out and run the guide's own tests against the guide's own plugin."""
    files = {}
    for block in code_blocks("python"):
        first = block.splitlines()[0]
        if re.fullmatch(r"# \w+\.py", first):
            files[first[2:]] = block
    assert {"lakeflow_prebuilt.py", "test_lakeflow_prebuilt.py"} <= set(files)
    for name, source in files.items():
        (tmp_path / name).write_text(source)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout


def test_the_guides_packaging_installs_a_plugin_lakeflow_lists(tmp_path: Path) -> None:
    """The guide's pyproject.toml and module, installed by pip, are found by ``lakeflow plugins``."""
    source = tmp_path / "lakeflow-prebuilt"
    source.mkdir()
    (source / "pyproject.toml").write_text(next(b for b in code_blocks("toml") if b.startswith("# pyproject.toml")))
    (source / "lakeflow_prebuilt.py").write_text(
        next(b for b in code_blocks("python") if b.startswith("# lakeflow_prebuilt.py"))
    )
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index"]
    subprocess.run([*pip, "--target", str(site), str(source)], check=True, capture_output=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEFLOW_")}
    env.update(PYTHONPATH=str(site), LAKEFLOW_HOME=str(tmp_path / "home"))
    proc = subprocess.run(
        [sys.executable, "-m", "lakeflow_host", "plugins", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    listed = {p["name"]: p for p in json.loads(proc.stdout)}
    assert listed["prebuilt"]["builders"] == ["prebuilt"]
    assert (listed["prebuilt"]["distribution"], listed["prebuilt"]["version"]) == ("lakeflow-prebuilt", "0.1.0")


# -- every hook is exercised by a test ---------------------------------------------------------

#: The other ways a test reaches each hook: the Python API functions and the CLI commands that
#: call it (see lakeflow_host/api.py).
HOOK_CALLERS: dict[str, tuple[set[str], set[str]]] = {
    "builders": ({"builders", "resolve_builder", "list_plugins"}, {"plugins"}),
    "targets": ({"targets", "resolve_target", "list_plugins"}, {"plugins"}),
    "target_is_configured": (set(), set()),
    "build_artifact": ({"build_wheel", "launch"}, {"build-wheel", "launch"}),
    "upload_artifact": ({"upload_wheel", "launch"}, {"upload-wheel", "launch"}),
    "create_job": ({"create_job", "launch"}, {"create-job", "launch"}),
    "update_job": ({"launch"}, {"launch"}),
    "delete_job": ({"delete_job"}, {"delete-job"}),
    "get_job": ({"get_job", "status"}, {"get-job", "status"}),
    "list_jobs": ({"list_jobs"}, {"list-jobs"}),
    "trigger_run": (
        {"trigger_run", "trigger_runs", "launch", "rerun"},
        {"trigger-run", "trigger-runs", "launch", "rerun"},
    ),
    "list_job_runs": ({"list_job_runs", "wait", "status", "rerun"}, {"list-job-runs", "wait", "status", "rerun"}),
    "get_run": ({"get_run", "wait", "rerun"}, {"get-run", "wait", "rerun"}),
    "get_run_logs": ({"get_run_logs", "status"}, {"get-run-logs", "status"}),
    "cancel_run": ({"cancel_run"}, {"cancel-run"}),
    "prune": ({"prune"}, {"prune"}),
}


_STRING_METHODS = {name for name in dir(str) if not name.startswith("_")} | {
    "match",
    "search",
    "fullmatch",
    "sub",
    "findall",
    "glob",
    "rglob",
    "joinpath",
    "get",
    "removeprefix",
}


class Uses(ast.NodeVisitor):
    """What a test file really does with lakeflow. Only these count:

    - calls of lakeflow functions: ``lf.create_job(...)`` or ``create_job(...)`` imported from a
      ``lakeflow*`` module, and hook calls ``pm.hook.create_job(...)`` (not ``client.jobs.get_run``
      of some SDK);
    - hookimpls the file defines;
    - strings passed to a call or listed in a literal, as CLI arguments are (``"create-job"``), and
      strings passed straight to a call (an MCP ``call_tool("cancel_run", ...)``);
    - the names of its tests, when the file drives lakeflow at all.

    Comments, docstrings and other prose do not count.
    """

    def __init__(self) -> None:
        self.modules: set[str] = set()  # local names bound to lakeflow* modules
        self.functions: dict[str, str] = {}  # local name -> function imported from a lakeflow* module
        self.calls: set[str] = set()
        self.hookimpls: set[str] = set()
        self.tests: set[str] = set()
        self.arguments: set[str] = set()  # strings passed directly to a call
        self.cli_words: set[str] = set()  # strings passed to a call or listed in a list/tuple

    @property
    def drives_lakeflow(self) -> bool:
        return bool(self.modules or self.functions or {"lakeflow", "lakeflow_host"} & self.cli_words)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.startswith("lakeflow"):
                self.modules.add(alias.asname or alias.name.split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if (node.module or "").startswith("lakeflow"):
            for alias in node.names:
                self.functions[alias.asname or alias.name] = alias.name
                self.modules.add(alias.asname or alias.name)  # it may be a submodule (`api`)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in self.functions:
            self.calls.add(self.functions[func.id])
        elif isinstance(func, ast.Attribute):
            owner = func.value
            if (isinstance(owner, ast.Name) and owner.id in self.modules) or (
                isinstance(owner, ast.Attribute) and owner.attr == "hook"
            ):
                self.calls.add(func.attr)
        # `text.startswith("plugins")` passes a string, but not to lakeflow.
        if not (isinstance(func, ast.Attribute) and func.attr in _STRING_METHODS):
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    self.arguments.add(arg.value)
                    self.cli_words.add(arg.value)
        self.generic_visit(node)

    def _listed(self, node: ast.List | ast.Tuple) -> None:
        self.cli_words.update(e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str))
        self.generic_visit(node)

    visit_List = _listed
    visit_Tuple = _listed

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if node.name.startswith("test"):
            self.tests.add(node.name)
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if getattr(target, "id", getattr(target, "attr", None)) == "hookimpl":
                self.hookimpls.add(node.name)
        self.generic_visit(node)


def exercised(hook: str, uses: Uses) -> bool:
    api_functions, commands = HOOK_CALLERS[hook]
    return bool(
        {hook, *api_functions} & uses.calls
        or hook in uses.hookimpls
        or hook in uses.arguments
        or commands & uses.cli_words
        or (uses.drives_lakeflow and any(hook in test for test in uses.tests))
    )


def test_the_detector_counts_calls_not_prose() -> None:
    prose = Uses()
    prose.visit(
        ast.parse(
            "import lakeflow_host as lf\n"
            "def test_sdk(client):\n"
            '    """Checks create_job and the list-job-runs command."""  # cancel-run, get_run\n'
            "    client.jobs.get_run(1)\n"
            '    assert "x".startswith("plugins")\n'
        )
    )
    assert not [hook for hook in hook_specs() if exercised(hook, prose)]
    real = Uses()
    real.visit(ast.parse('import lakeflow_host as lf\nlf.get_run("1")\nrun(["cancel-run", "2"])\n'))
    assert [hook for hook in sorted(hook_specs()) if exercised(hook, real)] == ["cancel_run", "get_run"]


def test_every_hook_has_its_callers_listed() -> None:
    assert set(HOOK_CALLERS) == set(hook_specs()), "add the new hook to HOOK_CALLERS"


def test_every_hook_is_exercised_by_a_test() -> None:
    this = Path(__file__).resolve()
    found: dict[str, list[str]] = {hook: [] for hook in hook_specs()}
    for path in sorted(TESTS.rglob("test_*.py")):
        if path.resolve() == this:
            continue  # this file names every hook without exercising any
        uses = Uses()
        uses.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        for hook in found:
            if exercised(hook, uses):
                found[hook].append(path.name)
    missing = sorted(hook for hook, files in found.items() if not files)
    assert not missing, f"no test under tests/ exercises these hooks: {', '.join(missing)}"


# -- README and CI agree ---------------------------------------------------------------------

RUNS_PYTEST = re.compile(r"\bpytest\b")


def shell_line(line: str) -> str:
    """A command line as written, without a ``$ `` prompt and with single spaces."""
    return " ".join(line.strip().removeprefix("$ ").split())


def readme_test_command() -> str:
    """The first pytest line in the first code block after a heading that names the tests,
    else the first fenced pytest line anywhere (the README's set-up commands)."""
    text = README.read_text(encoding="utf-8")
    after_headings = [m.end() for m in re.finditer(r"^#+ .*\btests?\b.*$", text, re.MULTILINE | re.IGNORECASE)]
    for start in [*after_headings, 0]:
        for _lang, body in FENCE.findall(text[start:]):
            lines = [line for line in body.splitlines() if RUNS_PYTEST.search(line)]
            if lines:
                return shell_line(lines[0])
            if start:
                break  # only the first block after this heading
    raise AssertionError("README.md shows no test command: add a code block running pytest")


def test_readme_test_command_is_what_ci_runs() -> None:
    assert README.is_file(), "README.md is missing"
    assert CI_RUN.is_file(), ".ci/run is missing"
    runs = [
        shell_line(line)
        for line in CI_RUN.read_text(encoding="utf-8").splitlines()
        if RUNS_PYTEST.search(line) and not line.lstrip().startswith("#")
    ]
    assert runs, ".ci/run runs no tests"
    assert readme_test_command() == runs[-1]
