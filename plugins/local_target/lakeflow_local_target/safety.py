"""The local target's guards: a private home, files opened without following symlinks, checked
input, and failures of the machine turned into one line naming the fix.

Everything under the home is this user's alone: the home is 0700 and every file lakeflow
creates there is 0600 whatever the umask. A home that another user owns, or that others may
write to, could hold files planted to change what a run executes or sees, so it is refused; a
symlink inside the home is never followed for the same reason.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import re
import stat
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from lakeflow_host import LakeflowError

# Linux's MAX_ARG_STRLEN (32 pages): the longest single argument execve accepts, its NUL
# included (include/uapi/linux/binfmts.h; seen here: execve of a 131072-byte argument fails with
# E2BIG). Other systems only have the total limit.
MAX_ARG_BYTES = 32 * 4096
# Kept free of the total command-line limit for the run's environment and the launcher.
_ENV_ROOM = 64 * 1024
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

F = TypeVar("F", bound=Callable[..., Any])


def check_home(root: Path) -> None:
    """Create the home 0700, or check that an existing one is ours and private."""
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.stat(root)  # the home itself may be a link the user made; nothing inside it may
    except FileExistsError:
        raise LakeflowError(
            f"the lakeflow home {root} exists and is not a directory; point LAKEFLOW_HOME at a directory"
        ) from None
    except NotADirectoryError:
        raise LakeflowError(
            f"the lakeflow home {root} is under a file, not a directory; point LAKEFLOW_HOME at a directory"
        ) from None
    if not stat.S_ISDIR(info.st_mode):
        raise LakeflowError(
            f"the lakeflow home {root} exists and is not a directory; point LAKEFLOW_HOME at a directory"
        )
    if info.st_uid != os.geteuid():
        raise LakeflowError(
            f"the lakeflow home {root} belongs to another user (uid {info.st_uid}); "
            "point LAKEFLOW_HOME at a directory of your own"
        )
    if info.st_mode & 0o022:
        raise LakeflowError(
            f"the lakeflow home {root} is writable by other users (mode {stat.S_IMODE(info.st_mode):o}), so "
            f"its contents cannot be trusted; check them, then `chmod 700 {root}`"
        )
    if stat.S_IMODE(info.st_mode) != 0o700:
        with contextlib.suppress(OSError):  # read-only media: still usable for reading
            os.chmod(root, 0o700)


def private_dir(path: Path) -> Path:
    """``path`` as a directory of ours (0700), never through a symlink."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise _planted(path)
    return path


def _planted(path: Path) -> LakeflowError:
    return LakeflowError(
        f"{path} in the lakeflow home is a symlink or not a directory; lakeflow never follows links "
        "in its home: remove it (check who put it there)"
    )


def open_private(path: Path, flags: int) -> int:
    """``os.open`` of a file in the home: mode 0600, never through a symlink."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _planted(path) from None
        raise
    if flags & os.O_CREAT:
        os.fchmod(fd, 0o600)
    return fd


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically with ``data`` (0600); a symlink there is replaced, not followed."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_private(path: Path) -> bytes:
    fd = open_private(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


@contextlib.contextmanager
def private_umask() -> Iterator[None]:
    """Files made by tools we run (uv's venvs) are ours alone too."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def seal_env(venv: Path) -> None:
    """Make a job's venv this user's alone, whatever modes its installer chose, and compile it
    now, so that runs (with the user's umask) need not write bytecode into it."""
    marker = venv / ".lakeflow-private"
    if marker.exists():
        return
    import subprocess

    with private_umask():
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "compileall", "-q", str(venv / "lib")],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
    for folder, dirs, files in os.walk(venv):
        for name in (*dirs, *files):
            path = os.path.join(folder, name)
            info = os.lstat(path)
            if not stat.S_ISLNK(info.st_mode) and info.st_mode & 0o077:
                os.chmod(path, stat.S_IMODE(info.st_mode) & 0o700)
    os.close(open_private(marker, os.O_WRONLY | os.O_CREAT))


def check_args(args: Sequence[object], reserved: int = 0) -> list[str]:
    """The run's arguments, as execve will take them, or one line saying which one cannot be."""
    if isinstance(args, (str, bytes)):
        raise LakeflowError("the run's arguments must be a list of strings, not one string; pass [..]")
    checked: list[str] = []
    total = reserved
    for number, arg in enumerate(args, 1):
        if not isinstance(arg, str):
            raise LakeflowError(
                f"argument {number} is a {type(arg).__name__}, not a string; pass every argument as a string"
            )
        if "\0" in arg:
            raise LakeflowError(
                f"argument {number} holds a NUL byte, which no command line can carry; remove it "
                "(pass binary data in a file)"
            )
        try:
            size = len(arg.encode("utf-8")) + 1
        except UnicodeEncodeError:
            raise LakeflowError(f"argument {number} is not valid text (a lone surrogate); pass UTF-8 text") from None
        if size > MAX_ARG_BYTES:
            raise LakeflowError(
                f"argument {number} is {size - 1} bytes, over the {MAX_ARG_BYTES - 1} bytes the kernel allows "
                "for one argument; pass large input in a file and its path as the argument"
            )
        total += size + 8  # the pointer in argv
        checked.append(arg)
    limit = arg_max() - _ENV_ROOM
    if total > limit:
        raise LakeflowError(
            f"the run's arguments take {total} bytes, over the {limit} bytes a command line may take here; "
            "pass large input in a file and its path as an argument"
        )
    return checked


def arg_max() -> int:
    try:
        value = os.sysconf("SC_ARG_MAX")
    except (ValueError, OSError):
        value = -1
    return value if value > 0 else 128 * 1024


def check_env(env: Mapping[str, object]) -> dict[str, str]:
    """Env-var names and values a process can be given; a value is never echoed back."""
    checked: dict[str, str] = {}
    for name, value in env.items():
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            raise LakeflowError(
                "an --env-var name is not a valid environment variable name (was a value pasted "
                "instead of a name?); use letters, digits and _, not starting with a digit"
            )
        if not isinstance(value, str):
            raise LakeflowError(f"the value of --env-var {name} is not a string; pass text")
        if "\0" in value:
            raise LakeflowError(f"the value of --env-var {name} holds a NUL byte, which no environment can carry")
        checked[name] = value
    return checked


def _database_errors() -> tuple[type[BaseException], ...]:
    # No SQLite error can occur before sqlite3 is imported, and importing it costs every start of
    # a command on another target about 2 ms.
    sqlite3 = sys.modules.get("sqlite3")
    return (sqlite3.DatabaseError,) if sqlite3 is not None else ()


def describe_os_error(exc: BaseException, root: Path) -> str | None:
    """One line naming the fix for a failure of the machine, or None for anything else."""
    if isinstance(exc, _database_errors()):
        text = str(exc).lower()
        db = root / "lakeflow.db"
        if "full" in text or ("i/o error" in text and _disk_nearly_full(root)):
            return f"the disk holding the lakeflow home {root} is full; free some space and retry"
        if "i/o error" in text:
            return f"reading or writing the lakeflow database {db} failed ({exc}); check the disk, then retry"
        if "readonly" in text or "read-only" in text or "unable to open" in text:
            return (
                f"the lakeflow database {db} cannot be written (read-only home or disk?); make {root} "
                "writable or point LAKEFLOW_HOME at a writable directory"
            )
        if "malformed" in text or "not a database" in text or "corrupt" in text:
            return (
                f"the lakeflow database {db} is corrupted ({exc}); keep the readable jobs and runs with "
                f"`sqlite3 {db} .recover | sqlite3 {db}.recovered && mv {db} {db}.broken && "
                f"mv {db}.recovered {db}`, or move it aside to start afresh"
            )
        if "locked" in text or "busy" in text:
            return f"the lakeflow database {db} stayed locked by another lakeflow process for 30 s; retry"
        return None
    if isinstance(exc, OSError):
        where = exc.filename or root
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return f"the disk holding the lakeflow home {root} is full ({where}); free some space and retry"
        if exc.errno == errno.EROFS or (exc.errno in (errno.EACCES, errno.EPERM) and str(where).startswith(str(root))):
            return (
                f"lakeflow cannot write {where} ({exc.strerror}); make the home {root} writable or "
                "point LAKEFLOW_HOME at a writable directory"
            )
        if exc.errno == errno.ENOTDIR:
            return f"{where} is under a file, not a directory; point LAKEFLOW_HOME at a directory"
    return None


def _disk_nearly_full(root: Path) -> bool:
    try:
        info = os.statvfs(root)
    except OSError:
        return False
    return info.f_bavail * info.f_frsize < 1024 * 1024


def environment_errors(func: F) -> F:
    """Turn a failure of the disk or database under the home into a one-line LakeflowError."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (OSError, *_database_errors()) as exc:
            from lakeflow_local_target import store

            message = describe_os_error(exc, store.home())
            if message is None:
                raise
            raise LakeflowError(message) from None

    return wrapper  # type: ignore[return-value]
