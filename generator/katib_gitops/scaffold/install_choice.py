"""How the CI that `init` writes installs katib-gitops: always exactly the version that rendered the repository.

`check` compares the generated files byte for byte, so a repository is only green with the version that
rendered it. Three ways to get that version onto a CI machine:

- ``wheel`` (the default): the running version's wheel, kept in the repository's tools/ folder and
  checked against its sha256 before pip installs it. Works wherever the package index has the
  dependencies, whether or not katib-gitops itself is published there.
- ``index``: ``katib-gitops==VERSION`` from the package index (once it is published there).
- ``git``: a git URL naming the tag of this version (``git+https://host/org/katib-gitops.git@vVERSION``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..io.findings import Finding, UserError

WHEELS_DIR = "tools"
# What may appear in an install source: it lands in a workflow's YAML and, through env:, a shell variable.
_SAFE_SOURCE = re.compile(r"^[A-Za-z0-9._+\-=@:/~#<>!,\[\] ]+$")
_PINNED = re.compile(r"^katib-gitops\s*(?:==\s*(?P<version>[A-Za-z0-9.+!-]+))?$")
WHEEL = "wheel"
INDEX = "index"
GIT = "git"


@dataclass(frozen=True)
class Install:
    kind: str  # WHEEL, INDEX or GIT
    source: str  # what pip installs: the wheel's path from the repository's folder, a requirement, a git URL
    wheel: bytes | None = None  # the wheel's bytes, to write at source
    sha256: str = ""  # the wheel's digest, pinned in the workflow

    def describe(self, folder: str = "") -> str:
        """One line saying where the CI gets katib-gitops from (folder: the repository's, as the user names it)."""
        if self.kind == WHEEL:
            return (f"from {folder}{self.source} (this version's wheel, kept in the repository; the workflow "
                    f"checks its sha256 {self.sha256[:12]}... before installing it)")
        if self.kind == GIT:
            return f"from {self.source} (git)"
        return f"as {self.source} from the package index"

    def alternatives(self) -> str:
        """How to choose another way (init's --install values)."""
        others = {WHEEL: "--install WHEEL_FILE", INDEX: f"--install katib-gitops=={__version__}",
                  GIT: f"--install git+https://HOST/ORG/katib-gitops.git@v{__version__}"}
        default = "" if self.kind == WHEEL else " (the default, without --install, keeps this version's wheel)"
        return ("to change it: init with " + " or ".join(v for k, v in others.items() if k != self.kind)
                + default + ", or edit the workflow's install step")


def _bad(message: str) -> UserError:
    return UserError(Finding(message, file="--install", line=0, column=0, rule="init"), exit_code=2)


def choose(source: str | None) -> Install:
    """The install for init's --install SOURCE (None: the default, the running version's wheel)."""
    if source is None:
        from .wheel import WheelError, running_wheel, sha256

        try:
            name, data = running_wheel()
        except WheelError as exc:
            raise _bad(f"cannot make a wheel of the running katib-gitops ({exc}): pass --install "
                       f"katib-gitops=={__version__}, a git URL with a tag, or a wheel file") from None
        return Install(WHEEL, f"{WHEELS_DIR}/{name}", data, sha256(data))
    if not _SAFE_SOURCE.match(source):
        raise _bad(f"{source!r}: not a version spec, git URL or wheel path (unexpected characters)")
    if source.endswith(".whl"):
        return _given_wheel(Path(source))
    if source.startswith("git+") or "://" in source:
        ref = source.split("://", 1)[-1].split("#", 1)[0]
        if "@" not in ref.split("/", 1)[-1]:
            raise _bad(f"{source}: name the tag of version {__version__}, e.g. "
                       f"git+https://host/org/katib-gitops.git@v{__version__}")
        return Install(GIT, source)
    pinned = _PINNED.match(source.strip())
    if pinned is None:
        raise _bad(f"{source!r}: use katib-gitops=={__version__}, a git URL with a tag, or a wheel path")
    if pinned.group("version") not in (None, __version__):
        raise _bad(f"{source} is not the version that renders this repository ({__version__})")
    return Install(INDEX, f"katib-gitops=={__version__}")


def _given_wheel(wheel: Path) -> Install:
    from .wheel import sha256, wheel_name

    if not wheel.is_file():
        raise _bad(f"no such wheel: {wheel}")
    parts = wheel.name.split("-")
    if len(parts) < 5 or parts[0] != "katib_gitops" or parts[1] != __version__:
        raise _bad(f"{wheel.name} is not a katib-gitops {__version__} wheel (this is the version that renders "
                   "the repository)")
    if wheel.name != wheel_name():
        raise _bad(f"{wheel.name}: expected {wheel_name()} (katib-gitops is pure Python: one wheel for every platform)")
    try:
        data = wheel.read_bytes()
    except OSError as exc:
        raise _bad(f"cannot read {wheel}: {exc.strerror}") from None
    return Install(WHEEL, f"{WHEELS_DIR}/{wheel.name}", data, sha256(data))
