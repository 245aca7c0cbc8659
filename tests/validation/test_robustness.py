"""Whatever a hand-edited manifest holds, validation reports findings and never crashes."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterator

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from katib_gitops.validation import ValidationOptions, validate_document
from katib_gitops.io.yamlio import Document, dump, load_file

IRIS = load_file(str(Path(__file__).parent / "iris.yaml"))[0].data
ODD_VALUES = [None, 0, -1, 1.5, True, "", "x", "/abs", "8 GiB", "${trialParameters.nope}", "${trialSpec.Labels[k]}",
              [], {}, [1], [None], {"name": 3}, {"a": {"b": []}}, 2 ** 70]


def paths(node: Any, prefix: tuple = ()) -> Iterator[tuple]:
    if prefix:
        yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from paths(v, (*prefix, i))


ALL_PATHS = list(paths(IRIS))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.integers(0, len(ALL_PATHS) - 1), st.sampled_from(ODD_VALUES)), min_size=1, max_size=3),
       pod_security=st.sampled_from([None, "baseline", "restricted"]))
def test_mutated_experiment_never_crashes(edits: list[tuple[int, Any]], pod_security: str | None) -> None:
    data = copy.deepcopy(IRIS)
    for index, value in edits:
        node = data
        try:
            for key in ALL_PATHS[index][:-1]:
                node = node[key]
            node[ALL_PATHS[index][-1]] = copy.deepcopy(value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit replaced a parent of this path
    doc = Document(data, "mutated.yaml", 0, dump(data))
    findings = validate_document(doc, ValidationOptions(pod_security=pod_security))
    assert all(f.line >= 1 and f.file == "mutated.yaml" for f in findings)
