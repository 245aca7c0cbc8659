"""Where a new katib-gitops repository sits in git: its own repository, or a folder of a larger one.

`init platform/katib` inside an existing git repository (a monorepo) makes a folder of it: GitHub reads
workflows only from the top's .github/workflows/, Argo CD and Flux need the folder's path inside the
repository, and the repository's default branch and remote are already known. Everything read from git
here lands in generated YAML, so each value is held to an inert shape or dropped.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit, urlunsplit

from ..io.findings import Finding, UserError

# A folder's path inside the repository: it lands in YAML (paths:, working-directory:) and in Argo CD and Flux.
_PATH_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_BRANCH = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,199}")
DEFAULT_BRANCH = "main"


@dataclass(frozen=True)
class GitPlace:
    top: Path | None  # the enclosing repository's top directory; None outside any git repository
    path: str = "."  # the folder's place inside it, "/"-separated ("." at the top)
    branch: str = DEFAULT_BRANCH  # the branch Argo CD and Flux follow and CI checks pushes to
    remote_url: str | None = None  # origin's URL without credentials, when it has an ordinary shape

    @property
    def in_subfolder(self) -> bool:
        return self.top is not None and self.path != "."

    @property
    def workflow_name(self) -> str:
        """The workflow's file name: one per folder, so two katib-gitops folders in one repository do not clash."""
        return "katib-gitops.yml" if self.path == "." else f"katib-gitops-{self.path.replace('/', '-')}.yml"

    def workflow_file(self, directory: Path) -> Path:
        """Where the workflow goes: the top's .github/workflows/ (the only place GitHub reads workflows from)."""
        return (self.top if self.top is not None else directory) / ".github" / "workflows" / self.workflow_name


def _git(cwd: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, check=False,
                              timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None  # no git installed, or one that hangs: treated as outside any repository
    return proc.stdout.strip() if proc.returncode == 0 else None


def _existing_ancestor(directory: Path) -> Path:
    for d in (directory, *directory.parents):
        if d.is_dir():
            return d
    return Path("/")


def locate(directory: Path) -> GitPlace:
    """Where directory (which may not exist yet) will sit in git."""
    directory = directory.absolute()
    anchor = _existing_ancestor(directory)
    top = _git(anchor, "rev-parse", "--show-toplevel")
    if not top or _git(anchor, "rev-parse", "--is-inside-work-tree") != "true":
        return GitPlace(None)
    top_path = Path(top).resolve()
    target = anchor.resolve() / directory.relative_to(anchor)
    try:
        rel = PurePosixPath(target.relative_to(top_path).as_posix())
    except ValueError:
        return GitPlace(None)
    path = rel.as_posix()
    if path != "." and not all(_PATH_PART.fullmatch(part) for part in rel.parts):
        raise UserError(Finding(f"{path!r}: a folder inside a git repository needs a path of letters, digits, '.', "
                                "'_' and '-' (it is written into the workflow and the Argo CD and Flux manifests)",
                                file=str(directory), line=0, column=0, rule="init"), exit_code=2)
    return GitPlace(top_path, path, _default_branch(top_path), _remote_url(top_path))


def _default_branch(top: Path) -> str:
    """origin's default branch, else main or master where one exists, else the branch checked out, else main."""
    candidates = []
    origin_head = _git(top, "symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD")
    if origin_head and origin_head.startswith("origin/"):
        candidates.append(origin_head[len("origin/"):])
    candidates += [b for b in ("main", "master") if _git(top, "rev-parse", "--verify", "--quiet", f"refs/heads/{b}")]
    current = _git(top, "symbolic-ref", "--quiet", "--short", "HEAD")
    if current:
        candidates.append(current)
    return next((b for b in candidates if _BRANCH.fullmatch(b) and ".." not in b), DEFAULT_BRANCH)


def _remote_url(top: Path) -> str | None:
    """origin's URL, with any user name and password of an http(s) URL removed (a token must not be written)."""
    url = _git(top, "remote", "get-url", "origin")
    if not url:
        return None
    if url.startswith(("http://", "https://")):
        try:
            parts = urlsplit(url)
            netloc = f"{parts.hostname}:{parts.port}" if parts.port else (parts.hostname or "")
        except ValueError:
            return None
        url = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return url
