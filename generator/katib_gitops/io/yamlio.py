"""YAML in and out.

Machine-read YAML goes through PyYAML's C parser (fast); positions are only
worked out again, from the node tree, when a finding needs a line number.
Generated YAML is dumped deterministically with PyYAML's C emitter.
Human-owned files that the tool edits go through ruamel.yaml (see ``roundtrip``).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import yaml

from .findings import Finding, PathPart, UserError
from .safetext import clean_lines, unsafe

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

# Bounds that keep hostile input (alias bombs, absurd nesting) cheap to refuse.
MAX_DEPTH = 100
MAX_BYTES = 20 * 1024 * 1024


class _StrictLoader(_Loader):  # type: ignore[misc,valid-type]
    """Safe loader that refuses duplicate keys instead of keeping the last one."""


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    # Most mappings (all of kustomize's output) have no merge or `=` keys and plain string scalars: build
    # those directly, as construct_yaml_str would, without a constructor call per node (a large share of
    # loading time). Anything else takes the general path below.
    pairs = node.value
    for key_node, _ in pairs:
        if key_node.tag in _FLATTEN_TAGS:
            return _construct_merged_mapping(loader, node, deep)
    out: dict[Any, Any] = {}
    construct = loader.construct_object
    for key_node, value_node in pairs:
        if type(key_node) is _ScalarNode and key_node.tag == _STR_TAG:
            key = key_node.value
        else:
            key = construct(key_node, deep=deep)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a scalar", key_node.start_mark
                )
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        if type(value_node) is _ScalarNode and value_node.tag == _STR_TAG:
            out[key] = value_node.value
        else:
            out[key] = construct(value_node, deep=deep)
    return out


_ScalarNode = yaml.ScalarNode
_FLATTEN_TAGS = frozenset({"tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"})


def _construct_merged_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    # Keys merged in with `<<: *anchor` may be overridden by the mapping's own keys (that is what a merge
    # is for); only a key written twice in the mapping itself is a duplicate.
    explicit = sum(1 for key_node, _ in node.value if key_node.tag != _MERGE_TAG)
    loader.flatten_mapping(node)
    merged = len(node.value) - explicit  # flatten_mapping puts the merged pairs first
    seen: dict[Any, yaml.Node] = {}
    out: dict[Any, Any] = {}
    for index, (key_node, value_node) in enumerate(node.value):
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a scalar", key_node.start_mark
            )
        if index < merged:
            out[key] = loader.construct_object(value_node, deep=deep)
            continue
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen[key] = key_node
        out[key] = loader.construct_object(value_node, deep=deep)
    return out


def _construct_timestamp_as_str(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    # Kubernetes has no timestamp type in YAML input; keep the text as written.
    return loader.construct_scalar(node)


def _construct_binary_as_str(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    # Kubernetes turns YAML into JSON, where bytes are their base64 text: keep that text.
    return "".join(loader.construct_scalar(node).split())


def _construct_set_as_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict:
    # Go's YAML reads !!set {a, b} as the mapping it is written as (values null), not as a Python set.
    return _construct_mapping(loader, node, deep=True)


def _construct_pairs_as_list(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> list:
    # !!omap / !!pairs: the sequence of one-key mappings as written (no tuples: the data stays JSON-like).
    return loader.construct_sequence(node, deep=True)


_LOAD_RESOLVED: dict[tuple[str, Any], str] = {}


def _resolve_cached(self: Any, kind: Any, value: Any, implicit: Any) -> str:
    # The parser asks, for every scalar, which tag its text resolves to. With no path resolvers the answer
    # depends on the text alone, and the same keys and values recur in every Experiment: remember them.
    if kind is not _ScalarNode:
        return _Loader.resolve(self, kind, value, implicit)
    key = (value, implicit)
    tag = _LOAD_RESOLVED.get(key)
    if tag is None:
        tag = _Loader.resolve(self, kind, value, implicit)
        if len(_LOAD_RESOLVED) < 100_000:
            _LOAD_RESOLVED[key] = tag
    return tag


_StrictLoader.resolve = _resolve_cached
_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp_as_str)
_StrictLoader.add_constructor("tag:yaml.org,2002:binary", _construct_binary_as_str)
_StrictLoader.add_constructor("tag:yaml.org,2002:set", _construct_set_as_mapping)
_StrictLoader.add_constructor("tag:yaml.org,2002:omap", _construct_pairs_as_list)
_StrictLoader.add_constructor("tag:yaml.org,2002:pairs", _construct_pairs_as_list)

# Go's YAML (kubectl, Argo CD, Flux) reads `1e-5` and `1.5e3` as numbers; YAML 1.1 (PyYAML) wants a dot
# and a signed exponent, else keeps a string. Resolve those forms as floats too, so we see what Kubernetes
# sees (and quote such strings when dumping).
_GO_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)[eE][-+]?[0-9]+$")


@dataclass
class Document:
    """One YAML document, with what is needed to find positions later."""

    data: Any
    file: str
    index: int
    text: str = field(repr=False, default="")
    _node: Any = field(repr=False, default=None)

    def node(self) -> Any:
        if self._node is None:
            nodes = list(yaml.compose_all(self.text, Loader=_Loader))
            self._node = nodes[self.index] if self.index < len(nodes) else None
        return self._node

    def position(self, path: Sequence[PathPart]) -> tuple[int, int]:
        """1-based (line, column) of the deepest node that exists along path."""
        node = self.node()
        if node is None:
            return (1, 1)
        best = node
        for part in path:
            nxt = None
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                        nxt = value
                        best = key
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if 0 <= part < len(node.value):
                    nxt = node.value[part]
                    best = nxt
            if nxt is None:
                break
            node = nxt
        return (best.start_mark.line + 1, best.start_mark.column + 1)

    def subnode(self, path: Sequence[PathPart]) -> Any:
        """The node at path (mapping keys and sequence indexes), or None."""
        node = self.node()
        for part in path:
            if isinstance(node, yaml.MappingNode):
                node = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
                node = node.value[part]
            else:
                return None
        return node

    def find_text(self, path: Sequence[PathPart], wanted: str) -> tuple[int, int] | None:
        """(line, column) of the first scalar (key or value) under path whose text is wanted."""
        stack = [self.subnode(path)]
        while stack:
            n = stack.pop()
            if isinstance(n, yaml.ScalarNode):
                if n.value == wanted:
                    return n.start_mark.line + 1, n.start_mark.column + 1
            elif isinstance(n, yaml.MappingNode):
                for k, v in reversed(n.value):
                    stack.extend((v, k))
            elif isinstance(n, yaml.SequenceNode):
                stack.extend(reversed(n.value))
        return None

    def finding(self, message: str, path: Sequence[PathPart] = (), **kw: Any) -> Finding:
        line, col = self.position(path)
        return Finding(message=message, path=tuple(path), file=self.file, line=line, column=col, **kw)


def _yaml_error(exc: yaml.YAMLError, file: str, text: str = "") -> Finding:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    if context_mark is not None and mark is not None and (mark.index >= len(text.rstrip()) or "end of stream" in
                                                          str(getattr(exc, "problem", ""))):
        mark = context_mark  # the end of the file says nothing; where the unclosed quote or bracket began does
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    if isinstance(exc, yaml.reader.ReaderError):
        # Raised before any mark exists: only a character offset into the text.
        pos = max(0, min(exc.position, len(text)))
        line, col = text.count("\n", 0, pos) + 1, pos - (text.rfind("\n", 0, pos) + 1) + 1
        return Finding(message=f"invalid YAML: control character U+{exc.character:04X} is not allowed",
                       file=file, line=line, column=col, rule="yaml")
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    msg = f"{context} {problem}" if context and "duplicate" not in problem else problem
    at_tab = mark is not None and 0 <= mark.index < len(text) and text[mark.index] == "\t"
    if "tab character" in problem or at_tab:
        msg = "tab character where YAML requires spaces for indentation"
    return Finding(message=f"invalid YAML: {' '.join(msg.split())}", file=file, line=line, column=col, rule="yaml")


def _budget(text: str) -> int:
    # Without aliases a document cannot hold more nodes plus string characters than about twice its own
    # length; anything beyond that was multiplied by aliases (a "billion laughs" bomb).
    return 2 * len(text) + 10_000


def _check_tree(datas: list[Any], text: str, file: str) -> None:
    """Refuse alias bombs and absurd nesting in constructed data, before anything walks it recursively.

    PyYAML builds an alias as a second reference to the same object, so a bomb costs nothing to
    load but explodes in whatever walks it later (schema checks, dumping, hashing). This walk is
    iterative and stops as soon as the expanded size passes the budget; only then is the text
    parsed again (``_locate_shape``) to say where.
    """
    budget = _budget(text)
    stack: list[tuple[Any, int]] = [(d, 1) for d in datas]
    size = 0
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            size += 1 + len(node)
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            size += 1
            stack.extend((v, depth + 1) for v in node)
        elif isinstance(node, str):
            size += 1 + len(node)
            continue
        else:
            size += 1
            continue
        if depth > MAX_DEPTH or size > budget:
            _locate_shape(text, file)
            raise UserError(Finding(f"invalid YAML: nested deeper than {MAX_DEPTH} levels or expanded by aliases "
                                    "beyond its size", file=file, line=1, column=1, rule="yaml"))


def _locate_shape(text: str, file: str) -> None:
    """Raise the UserError for the first alias or collection that breaks the bounds, at its position."""
    budget = _budget(text)
    anchors: dict[str, int] = {}
    frames: list[list[Any]] = []  # [anchor, expanded size so far]
    expanded = 0

    def fail(message: str, mark: Any) -> None:
        raise UserError(Finding(f"invalid YAML: {message}", file=file, line=mark.line + 1, column=mark.column + 1,
                                rule="yaml"))

    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            grown = anchors.get(event.anchor, 1)
            expanded += grown
            if frames:
                frames[-1][1] += grown
            if expanded > budget:
                fail("aliases expand this file far beyond its size (alias bomb?)", event.start_mark)
        elif isinstance(event, yaml.ScalarEvent):
            grown = 1 + len(event.value)
            if event.anchor:
                anchors[event.anchor] = grown
            if frames:
                frames[-1][1] += grown
        elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            frames.append([event.anchor, 1])
            if len(frames) > MAX_DEPTH:
                fail(f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            anchor, grown = frames.pop()
            if anchor:
                anchors[anchor] = grown
            if frames:
                frames[-1][1] += grown


def decode(raw: bytes, file: str) -> str:
    if len(raw) > MAX_BYTES:
        raise UserError(Finding(f"file is larger than {MAX_BYTES // (1024 * 1024)} MiB, the most katib-gitops reads",
                                file=file, line=1, column=1, rule="yaml"))
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise UserError(Finding(f"not UTF-8: byte 0x{raw[exc.start]:02x} cannot be decoded",
                                file=file, line=line, column=col, rule="yaml")) from None


# A \u or \U escape (double-quoted scalars) naming a UTF-16 surrogate: the only way a YAML file decoded
# from UTF-8 can carry a lone surrogate, which is no character (JSON, Kubernetes and our YAML output refuse it).
_SURROGATE_ESCAPE = re.compile(r"\\(?:u[dD][89a-fA-F][0-9a-fA-F]{2}|U0000[dD][89a-fA-F][0-9a-fA-F]{2})")


def _refuse_surrogates(text: str, file: str) -> None:
    m = _SURROGATE_ESCAPE.search(text)
    if m is not None:
        line = text.count("\n", 0, m.start()) + 1
        col = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
        raise UserError(Finding(f"invalid YAML: {m.group()} is a lone UTF-16 surrogate, not a character",
                                file=file, line=line, column=col, rule="yaml"))


def load_documents(text: str, file: str) -> list[Document]:
    """Every non-empty document in text; a UserError for unreadable YAML."""
    if "\\" in text:
        _refuse_surrogates(text, file)
    try:
        datas = list(yaml.load_all(text, Loader=_StrictLoader))
        _check_tree(datas, text, file)
    except yaml.YAMLError as exc:
        raise UserError(_yaml_error(exc, file, text)) from None
    except RecursionError:
        raise UserError(Finding("invalid YAML: nested too deeply", file=file, line=1, column=1, rule="yaml")) from None
    return [Document(d, file, i, text) for i, d in enumerate(datas) if d is not None]


def read_text(path: str, name: str) -> str:
    """A file's text (at most MAX_BYTES, UTF-8); exit status 2 when it cannot be read."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise UserError(Finding(f"cannot read: {exc.strerror}", file=name, line=0, column=0, rule="io"), exit_code=2) from None
    return decode(raw, name)


def load_file(path: str, display: str | None = None) -> list[Document]:
    name = display or path
    return load_documents(read_text(path, name), name)


def load_one(path: str, display: str | None = None) -> Document:
    return one_document(load_file(path, display), display or path)


def one_document(docs: list[Document], name: str) -> Document:
    if not docs:
        raise UserError(Finding("file is empty: expected one YAML mapping", file=name, line=1, column=1, rule="yaml"))
    if len(docs) > 1:
        raise UserError(docs[1].finding("expected one YAML document, found several"))
    return docs[0]


_RESOLVED: dict[tuple[str, Any], str] = {}


class _Dumper2(_Dumper):  # type: ignore[misc,valid-type]
    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        # The emitter asks, for every scalar, which tag its plain text would read back as (to decide on
        # quotes). With no path resolvers the answer depends on the text alone, and the same keys and
        # values recur in every Experiment: remember the answers (most of the time of a large render).
        if kind is not yaml.ScalarNode:
            return super().resolve(kind, value, implicit)
        key = (value, implicit)
        tag = _RESOLVED.get(key)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            if len(_RESOLVED) < 100_000:
                _RESOLVED[key] = tag
        return tag

    def represent_data(self, data: Any) -> yaml.Node:
        # The same nodes SafeRepresenter builds, without its per-object type dispatch for the types
        # rendered output is made of (byte-identical output; dicts and lists keep alias tracking).
        t = type(data)
        if t is str:
            if data.isprintable() and "::" not in data and "##[" not in data:  # nearly every string, in C
                return yaml.ScalarNode(_STR_TAG, data, style=None)
            return yaml.ScalarNode(_STR_TAG, data, style=_str_style(data))
        if (t is dict or t is list) and not self.sort_keys and self.default_flow_style is not None:
            node = self.represented_objects.get(id(data))
            if node is not None:
                return node
            self.object_keeper.append(data)
            if t is dict:
                pairs: list[tuple[yaml.Node, yaml.Node]] = []
                node = yaml.MappingNode(_MAP_TAG, pairs, flow_style=self.default_flow_style)
                self.represented_objects[id(data)] = node
                for k, v in data.items():
                    pairs.append((self.represent_data(k), self.represent_data(v)))
            else:
                items: list[yaml.Node] = []
                node = yaml.SequenceNode(_SEQ_TAG, items, flow_style=self.default_flow_style)
                self.represented_objects[id(data)] = node
                for v in data:
                    items.append(self.represent_data(v))
            return node
        return super().represent_data(data)


_STR_TAG, _MAP_TAG, _SEQ_TAG = "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"


def _str_style(value: str) -> str | None:
    # A string ``safetext.clean`` would change (a bidi or zero-width character, "##[", a line starting with
    # "::") is double-quoted: the emitter escapes line breaks and controls there, and ``dump`` escapes the rest
    # with clean, whose escapes are YAML's. Dumped YAML is then safe to print (``results``, ``import``) and to
    # review, and reads back as the same data.
    if unsafe(value):
        return '"'
    return "|" if "\n" in value else None


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=_str_style(value))


_Dumper2.add_representer(str, _str_representer)
for _cls in (_StrictLoader, _Dumper2):
    _cls.add_implicit_resolver("tag:yaml.org,2002:float", _GO_EXPONENT_FLOAT, list("-+.0123456789"))


def dump(data: Any) -> str:
    """Deterministic block YAML: key order as built, no wrapping, no aliases; safe to print (``_str_style``)."""
    return clean_lines(yaml.dump(data, Dumper=_Dumper2, sort_keys=False, default_flow_style=False,
                                 allow_unicode=True, width=1 << 30))


def dump_all(docs: Sequence[Any]) -> str:
    return clean_lines(yaml.dump_all(docs, Dumper=_Dumper2, sort_keys=False, default_flow_style=False,
                                     allow_unicode=True, width=1 << 30))


def iter_yaml_files(root: str | Path) -> Iterator[Path]:
    """Every .yaml/.yml file under root, sorted, skipping hidden files and directories."""
    import os

    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith((".yaml", ".yml")) and not name.startswith("."):
                yield Path(dirpath) / name


def roundtrip() -> Any:
    """A ruamel.yaml instance that keeps comments and key order of human-owned files."""
    from ruamel.yaml import YAML

    rt = YAML()
    rt.preserve_quotes = True
    rt.indent(mapping=2, sequence=4, offset=2)
    rt.width = 4096
    return rt


def dump_roundtrip(data: Any) -> str:
    buf = io.StringIO()
    roundtrip().dump(data, buf)
    return buf.getvalue()
