"""The API server's size limit on an object, in a module light enough for the spec loader to use.

The API server refuses a request body over etcd's request limit (``--max-request-bytes``, 1.5 MiB by
default), so an Experiment over it can never be created. A spec is refused at that limit as early as its
size shows it: before its YAML is parsed when the file's content alone is far over it (a 1,000,000-value
categorical list), right after rendering when its Experiment is (10,000 parameters), and by validation
(``validation.apilimits``) for every object, an overlay's patched Experiment included.
"""

from __future__ import annotations

import json
from typing import Any

OBJECT_LIMIT = 1572864  # bytes: 1.5 MiB
# A spec whose content (comments and blank lines aside) is this large renders to an Experiment over the
# limit: the Experiment repeats every parameter and value in more bytes than the spec spells them.
SPEC_CONTENT_LIMIT = 2 * OBJECT_LIMIT
# Below this much spec text no Experiment comes near the limit: the exact size is left to validation.
SPEC_TEXT_CHECKED = 64 * 1024


def object_size(data: Any) -> int:
    """Bytes of the object as JSON, as kubectl, Argo CD and Flux send it (compact, UTF-8)."""
    try:  # the C encoder's fast path (no default=); loaded YAML is JSON-like, anything else takes the slow one
        escaped = json.dumps(data, separators=(",", ":"))  # ASCII: no encoding step, and never fewer bytes
    except (TypeError, ValueError):  # than the UTF-8 text (an escape is 6 bytes, a character 1 to 4)
        escaped = json.dumps(data, separators=(",", ":"), default=str)
    if len(escaped) <= OBJECT_LIMIT:
        return len(escaped)
    return len(json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8", "replace"))


def size_message(size: int, what: str = "the object") -> str:
    return (f"{what} is {size:,} bytes as JSON, over the {OBJECT_LIMIT:,} bytes (1.5 MiB) the API server accepts "
            "(etcd's request limit): Kubernetes can never store it")


def content_bytes(text: str) -> int:
    """Bytes of text that are not comment lines or blank lines (a cheap look, before any parsing)."""
    total = 0
    for line in text.splitlines():
        stripped = line.lstrip()
        if stripped and not stripped.startswith("#"):
            total += len(stripped)
    return total
