"""Builds tiny wheels in memory with zipfile, for the server's own tests (no build backend needed)."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile


def make_wheel(
    name: str,
    version: str,
    files: dict[str, str],
    entry_points: dict[str, str],
    requires: tuple[str, ...] = (),
    requires_python: str | None = None,
    tag: str = "py3-none-any",
) -> tuple[str, bytes]:
    """Returns (filename, bytes) of a pure-Python wheel; entry_points go to console_scripts."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires
    )
    if requires_python:
        meta += f"Requires-Python: {requires_python}\n"
    contents = dict(files)
    contents[f"{info}/METADATA"] = meta
    contents[f"{info}/WHEEL"] = f"Wheel-Version: 1.0\nGenerator: wheelmaker\nRoot-Is-Purelib: true\nTag: {tag}\n"
    contents[f"{info}/entry_points.txt"] = "[console_scripts]\n" + "".join(
        f"{k} = {v}\n" for k, v in entry_points.items()
    )
    record = []
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, text in contents.items():
            data = text.encode()
            zf.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{path},sha256={digest},{len(data)}")
        record.append(f"{info}/RECORD,,")
        zf.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return f"{dist}-{version}-{tag}.whl", buf.getvalue()
