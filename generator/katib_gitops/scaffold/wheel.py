"""A wheel of the running katib-gitops, for `init` to vendor into a repository's tools/ folder.

Made from the installed package itself (its files as the interpreter imports them, and its metadata), so it
needs no build backend and no network, and holds exactly the code that rendered the repository: the CI that
installs it renders byte for byte what `check` compares. It is written reproducibly (entries sorted, fixed
timestamps and modes), so one installed version gives the same bytes, and the sha256 the workflow pins stays
the same, from one `init` to the next.

An editable install (a development checkout) imports the package from the source tree: the files are the
same ones `pip wheel .` packs (tests/gitops/test_packaging.py compares the two).
"""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path

from .. import __version__

DISTRIBUTION = "katib-gitops"
PACKAGE = "katib_gitops"
# The metadata a wheel carries. INSTALLER, REQUESTED, direct_url.json and RECORD describe an installation.
_METADATA = ("METADATA", "entry_points.txt", "top_level.txt")
_SKIPPED_DIRS = frozenset({"__pycache__"})
_SKIPPED_SUFFIXES = (".pyc", ".pyo")
# 1980-01-01, the earliest time a zip file can hold: no build time leaks into the bytes.
_EPOCH = (1980, 1, 1, 0, 0, 0)


class WheelError(Exception):
    """The running installation cannot be packed (its metadata is missing or names another version)."""


def wheel_name(version: str = __version__) -> str:
    return f"{PACKAGE}-{version}-py3-none-any.whl"


def _package_dir(name: str) -> Path:
    spec = find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise WheelError(f"the {name} package is not importable as a directory")
    return Path(list(spec.submodule_search_locations)[0])


def _package_files() -> dict[str, bytes]:
    """Archive name -> bytes of every file of the package, data included.

    katib_gitops.schemas is walked on its own as well: a development checkout keeps it outside the
    package's directory (pyproject.toml maps it), an installed package holds it inside (the same names).
    """
    files: dict[str, bytes] = {}
    for prefix, root in ((PACKAGE, _package_dir(PACKAGE)), (f"{PACKAGE}/schemas", _package_dir(f"{PACKAGE}.schemas"))):
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root)
            if _SKIPPED_DIRS.intersection(rel.parts) or path.suffix in _SKIPPED_SUFFIXES or not path.is_file():
                continue
            files[f"{prefix}/{rel.as_posix()}"] = path.read_bytes()
    return files


def _metadata_files(version: str) -> dict[str, bytes]:
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise WheelError(f"{DISTRIBUTION} is imported but not installed (no metadata): install it with pip") from None
    if dist.version != version:
        raise WheelError(f"the installed metadata says {DISTRIBUTION} {dist.version}, the code is {version}: "
                         "reinstall it")
    info = f"{PACKAGE}-{version}.dist-info"
    out = {}
    for name in _METADATA:
        # An egg-info directory (a source checkout's, found first when it is the current directory) calls
        # its METADATA PKG-INFO: the same format.
        text = dist.read_text(name) if name != "METADATA" else dist.read_text(name) or dist.read_text("PKG-INFO")
        if text is not None:
            out[f"{info}/{name}"] = text.encode("utf-8")
    if f"{info}/METADATA" not in out:
        raise WheelError(f"{DISTRIBUTION} {version} has no METADATA: reinstall it")
    out[f"{info}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: katib-gitops (from the installed package)\n"
                            b"Root-Is-Purelib: true\nTag: py3-none-any\n")
    return out


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
    return f"{name},sha256={digest},{len(data)}"


def running_wheel(version: str = __version__) -> tuple[str, bytes]:
    """(file name, bytes) of a wheel of the running katib-gitops; WheelError when it cannot be made."""
    files = _package_files()
    if f"{PACKAGE}/__init__.py" not in files:
        raise WheelError(f"no {PACKAGE}/__init__.py found to pack")
    meta = _metadata_files(version)
    record_name = f"{PACKAGE}-{version}.dist-info/RECORD"
    entries = [*sorted(files.items()), *sorted(meta.items())]
    record = "".join(f"{_record_line(n, d)}\n" for n, d in entries) + f"{record_name},,\n"
    entries.append((record_name, record.encode("utf-8")))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o100644 << 16  # a regular file, rw-r--r--
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, whatever the platform that writes it
            archive.writestr(info, data)
    return wheel_name(version), buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
