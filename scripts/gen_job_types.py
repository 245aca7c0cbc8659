"""Generate schemas/k8s-job-types.json: the Go field model of batch/v1 Job that Katib's webhook round-trips.

Katib (pkg/webhook/v1beta1/experiment/validator/validator.go, validateTrialJob and
validatePatchJob) decodes a Job trial template into the typed batch/v1 Job and
re-encodes it with encoding/json. What survives that round trip depends on each
Go field's type (pointer or value, slice, map, struct, resource.Quantity, ...)
and on its `omitempty` tag, neither of which the OpenAPI schemas record. This
script reads them from the Go sources of k8s.io/api and k8s.io/apimachinery at
the versions Katib's go.mod pins (v0.34.0) and writes a compact table:

    {"root": "Job", "types": {"Job": {"metadata": ["ObjectMeta", true], ...}}}

each field as [type expression, omitempty]. Type expressions: `*T` pointer,
`[]T` slice, `map[T]` map with values T, a struct name, or one of the leaf kinds
string, bool, int, float, Quantity, IntOrString, Time, Raw.

Usage (the Go files come from `git show v0.34.0:core/v1/types.go` etc.):
    python scripts/gen_job_types.py core_v1_types.go batch_v1_types.go meta_v1_types.go > schemas/k8s-job-types.json
"""

from __future__ import annotations

import json
import re
import sys

STRUCT = re.compile(r"^type (\w+) struct \{\n(.*?)^\}", re.M | re.S)
NAMED = re.compile(r"^type (\w+) =? ?(.+)$", re.M)
FIELD = re.compile(r"^\t(?:(\w+) )?([\w.*\[\]]+) +`json:\"([^\"]*)\"", re.M)

LEAF = {
    "string": "string", "bool": "bool", "byte": "int",
    "int": "int", "int32": "int", "int64": "int", "uint": "int", "uint32": "int", "uint64": "int",
    "float32": "float", "float64": "float",
    "resource.Quantity": "Quantity", "intstr.IntOrString": "IntOrString",
    "metav1.Time": "Time", "Time": "Time", "metav1.MicroTime": "Time", "MicroTime": "Time",
    "types.UID": "string", "FieldsV1": "Raw", "metav1.FieldsV1": "Raw",
}


def parse(sources: list[str]) -> tuple[dict[str, dict[str, list]], dict[str, str]]:
    structs: dict[str, list[tuple[str | None, str, str]]] = {}
    named: dict[str, str] = {}
    for text in sources:
        for m in STRUCT.finditer(text):
            structs[m.group(1)] = [(f.group(1), f.group(2), f.group(3)) for f in FIELD.finditer(m.group(2))]
        for m in NAMED.finditer(text):
            if not m.group(2).startswith("struct"):
                named[m.group(1)] = m.group(2).split("//")[0].strip()
    return structs, named


def resolve(expr: str, structs: dict, named: dict, seen: set[str]) -> str:
    if expr.startswith("*"):
        return "*" + resolve(expr[1:], structs, named, seen)
    if expr.startswith("[]"):
        return "[]" + resolve(expr[2:], structs, named, seen)
    if expr.startswith("map["):
        value = expr[expr.index("]") + 1:]
        return f"map[{resolve(value, structs, named, seen)}]"
    if expr in LEAF:
        return LEAF[expr]
    bare = expr.split(".")[-1]
    if bare in LEAF:
        return LEAF[bare]
    if bare in structs:
        seen.add(bare)
        return bare
    if bare in named:
        return resolve(named[bare], structs, named, seen)
    raise SystemExit(f"unknown Go type {expr}")


def main(paths: list[str]) -> None:
    structs, named = parse([open(p, encoding="utf-8").read() for p in paths])
    out: dict[str, dict[str, list]] = {}
    todo = ["Job"]
    while todo:
        name = todo.pop()
        if name in out:
            continue
        fields: dict[str, list] = {}
        inline: list[str] = []
        for _, type_expr, tag in structs[name]:
            json_name, _, options = tag.partition(",")
            if json_name == "-":
                continue
            seen: set[str] = set()
            resolved = resolve(type_expr, structs, named, seen)
            todo += sorted(seen)
            if "inline" in options.split(","):
                inline.append(resolved)
                continue
            fields[json_name] = [resolved, "omitempty" in options.split(",")]
        if inline:
            fields["<inline>"] = [",".join(inline), False]
        out[name] = fields
    json.dump({"root": "Job", "source": "k8s.io/api v0.34.0, k8s.io/apimachinery v0.34.0 (katib go.mod)",
               "types": dict(sorted(out.items()))}, sys.stdout, indent=0, sort_keys=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
