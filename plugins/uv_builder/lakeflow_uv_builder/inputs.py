"""The rebuild-skip hash: every file that can change a wheel, as git would see the tree.

Files that ``.gitignore`` ignores (a scratch folder, logs) do not count, so they never trigger a
rebuild. Each project is walked from its own root, so a path dependency living in a git
submodule is hashed from its own files (a hash from the parent's ``git ls-files`` alone would miss
edits inside it), and a submodule follows its own ``.gitignore`` files, not the parent's.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_SKIP_DIRS = {
    ".git",
    ".hg",
    ".venv",
    "venv",
    "__pycache__",
    "dist",
    "build",
    ".tox",
    ".nox",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "node_modules",
    ".pants.d",
    ".idea",
    ".vscode",
}
_Rules = list[tuple[Path, Any]]  # (directory of a .gitignore, its compiled spec)


def _spec(directory: Path) -> Any | None:
    path = directory / ".gitignore"
    if not path.is_file():
        return None
    import pathspec  # installed with hatchling; loaded only by a build that needs a hash

    return pathspec.GitIgnoreSpec.from_lines(path.read_text(encoding="utf-8", errors="replace").splitlines())


def _outer_rules(root: Path) -> _Rules:
    """The ``.gitignore`` files above ``root`` up to its repository's top (a ``.git`` folder, or
    the ``.git`` file of a submodule); none when ``root`` is not in a repository."""
    if (root / ".git").exists():
        return []
    chain = []
    for directory in root.parents:
        chain.append(directory)
        if (directory / ".git").exists():
            break
    else:
        return []
    return [(d, spec) for d in reversed(chain) if (spec := _spec(d)) is not None]


def _ignored(path: Path, is_dir: bool, rules: _Rules) -> bool:
    """As git decides: the last matching pattern wins, and a deeper ``.gitignore`` (later in
    ``rules``) overrides an outer one, so ``!keep.log`` below re-includes what ``*.log`` above ignored."""
    ignored = False
    for base, spec in rules:
        relative = path.relative_to(base).as_posix() + ("/" if is_dir else "")
        verdict = spec.check_file(relative).include  # True: ignored, False: negated, None: no match
        if verdict is not None:
            ignored = verdict
    return ignored


def input_hash(roots: Iterable[Path], skip: Path, extra_files: Iterable[Path] = ()) -> str:
    """A hash of the paths and contents of every input file under each root, plus ``extra_files``
    (a workspace lock outside the project); ``skip`` is the output folder."""
    digest = hashlib.sha256()
    for root in roots:
        digest.update(f"project {root}\0".encode())
        rules: dict[Path, _Rules] = {root: _outer_rules(root)}
        for directory, dirnames, filenames in os.walk(root):
            here = Path(directory)
            inherited = rules.pop(here)
            own = _spec(here)
            active = [*inherited, (here, own)] if own is not None else inherited
            kept = []
            for d in sorted(dirnames):
                path = here / d
                if d in _SKIP_DIRS or d.endswith(".egg-info") or path.resolve() == skip:
                    continue
                if _ignored(path, True, active):
                    continue
                # A nested repository (a submodule) follows its own ignore files only.
                rules[path] = [] if (path / ".git").exists() else active
                kept.append(d)
            dirnames[:] = kept
            for filename in sorted(filenames):
                path = here / filename
                if filename.endswith((".pyc", ".pyo")) or not path.is_file() or _ignored(path, False, active):
                    continue
                _add(digest, path, path.relative_to(root))
    for path in extra_files:
        _add(digest, path, path)
    return digest.hexdigest()


def _add(digest: Any, path: Path, name: Path) -> None:
    digest.update(f"{name}\0".encode())
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    digest.update(b"\0")
