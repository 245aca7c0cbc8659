"""The primary container's command as Katib's pod webhook rewrites it for a pull metrics collector.

For the StdOut, File and TensorFlowEvent collectors (pod/const.go
NeedWrapWorkerMetricsCollectorList) the pod webhook (pod/utils.go
wrapWorkerContainer, getContainerCommand) replaces the primary container's
command and args by ``sh -c "<command and args joined with spaces> 1>log 2>&1 && ..."``
(the redirect only for StdOut). An existing ``sh -c`` / ``bash -c`` prefix is kept
and the rest joined the same way. So:

- a word with spaces or shell operators is re-parsed by sh into other words
  (``python3 -c 'print(1)'`` written as three words): error;
- words sh reads as one word but changes (quotes removed, as the upstream NAS
  examples rely on) or would expand (``$HOME``, ``*``): warning;
- ``sh -c SCRIPT ARG...``: the ARGs are joined into the script text: error;
  a script of several commands gets the redirect on its last one only: warning;
- no ``command``: the webhook asks the image registry for the entrypoint at trial
  time (getRemoteImage): warning.

Each ``${trialParameters.X}`` is checked with every value the parameter's list can
give it (the first value, or min and max, for ranges).
"""

from __future__ import annotations

import re
import shlex
from typing import Any, Iterator

from ..io.findings import WARNING, Finding, PathPart
from ..io.yamlio import Document
from . import katib_rules
from .podwebhook import is_primary, primary_labels
from .access import as_list, as_map

WRAPPED_COLLECTORS = ("StdOut", "File", "TensorFlowEvent")
SHELLS = ("sh", "bash")
EXPANDS = set("$`*?[~\\")
# Characters sh gives no meaning inside a word.
PLAIN = re.compile(r"[A-Za-z0-9_./=:,+@%^-]+")
RULE = "katib-command-wrap"


# What a NAS service sends for its assignments, in shape (json.dumps with its ", " and ": " separators, then
# '"' replaced by "'": nas/enas/service.py and nas/darts/service.py GetSuggestions): every trial gets such text.
NAS_VALUES = {"architecture": "[[0], [1, 0]]",
              "nn_config": "{'num_layers': 2, 'input_sizes': [32, 32, 3], 'output_sizes': [10]}",
              "algorithm-settings": "{'num_epochs': 50, 'w_lr': 0.025}",
              "search-space": "['max_pooling_3x3', 'skip_connection']", "num-layers": "8"}


def _values(exp: dict[str, Any]) -> dict[str, list[str]]:
    """trialParameter name -> the values a trial can give its placeholder."""
    spec = as_map(exp.get("spec"))
    params = {p["name"]: as_map(p.get("feasibleSpace")) for p in as_list(spec.get("parameters"))
              if isinstance(p, dict) and isinstance(p.get("name"), str)}
    out: dict[str, list[str]] = {}
    for tp in as_list(as_map(spec.get("trialTemplate")).get("trialParameters")):
        if not isinstance(tp, dict) or not isinstance(tp.get("name"), str):
            continue
        ref = tp.get("reference")
        space = params.get(ref) if isinstance(ref, str) else None
        if space is None:
            nas = spec.get("nasConfig") is not None and isinstance(ref, str) and ref in NAS_VALUES
            out[tp["name"]] = [NAS_VALUES[ref]] if nas else ["sample"]
            continue
        listed = [str(v) for v in as_list(space.get("list"))]
        bounds = [str(space[k]) for k in ("min", "max") if space.get(k) not in (None, "")]
        out[tp["name"]] = listed or bounds or ["1"]
    return out


def _variants(word: str, values: dict[str, list[str]]) -> Iterator[str]:
    """word with each of its placeholders given each possible value (one placeholder varied at a time)."""
    names = [m.group(1) for m in katib_rules.PLACEHOLDER.finditer(word)]
    if not names:
        yield word
        return
    first = {n: (values.get(n) or ["sample"])[0] for n in names}
    base = katib_rules.PLACEHOLDER.sub(lambda m: first.get(m.group(1), "sample"), word)
    yield base
    for name in dict.fromkeys(names):
        for value in (values.get(name) or [])[1:]:
            pick = dict(first, **{name: value})
            yield katib_rules.PLACEHOLDER.sub(lambda m: pick.get(m.group(1), "sample"), word)


def sh_words(text: str) -> list[str] | None:
    """How sh splits text into words (operators as words of their own), or None when it cannot parse it."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        words = list(lexer)
    except ValueError:
        return None
    # sh starts a comment at a word beginning with '#'.
    for i, w in enumerate(words):
        if w.startswith("#"):
            return words[:i] + ["<comment>"]
    return words


def _several_commands(script: str) -> bool:
    words = sh_words(script)
    return words is None or any(w in (";", "&&", "||", "|", "&") for w in words) or "\n" in script.strip()


def check_wrapped_command(doc: Document) -> list[Finding]:
    exp = doc.data
    spec = as_map(exp.get("spec"))
    mcs = as_map(spec.get("metricsCollectorSpec"))
    kind = as_map(mcs.get("collector")).get("kind") or "StdOut"
    if not isinstance(kind, str):
        return []
    tt = as_map(spec.get("trialTemplate"))
    primary = tt.get("primaryContainerName")
    ts = tt.get("trialSpec")
    if kind not in WRAPPED_COLLECTORS or not isinstance(primary, str) or not isinstance(ts, dict):
        return []
    values = _values(exp)
    out: list[Finding] = []
    labels = primary_labels(tt, ts)
    for path, template, _ in _pod_templates(ts):
        if labels is not None and not is_primary(path, template, labels):
            continue  # pod/inject_webhook.go Mutate wraps only pods carrying primaryPodLabels
        for i, ct in enumerate(as_list(as_map(template.get("spec")).get("containers"))):
            if isinstance(ct, dict) and ct.get("name") == primary:
                where = (*katib_rules.TRIAL_TEMPLATE, "trialSpec", *path, "spec", "containers", i)
                out += _container(doc, where, ct, values, kind)
    return out


def _pod_templates(ts: dict[str, Any]) -> Iterator[tuple[tuple[PathPart, ...], dict[str, Any], bool]]:
    from .kubernetes import pod_templates

    return pod_templates(ts)


def _container(doc: Document, where: tuple[PathPart, ...], ct: dict[str, Any], values: dict[str, list[str]],
               kind: str) -> list[Finding]:
    command, args = ct.get("command"), ct.get("args")
    if not isinstance(command, list) or not command:
        return [doc.finding("no command: Katib's pod webhook then asks the image registry for the image's entrypoint "
                            "at trial time (pod/utils.go getContainerCommand), which fails for a registry the "
                            "controller cannot reach; give the command explicitly", (*where, "name"),
                            severity=WARNING, rule=RULE)]
    words: list[tuple[tuple[PathPart, ...], str]] = [((*where, "command", j), w) for j, w in enumerate(command)]
    if isinstance(args, list):
        words += [((*where, "args", j), w) for j, w in enumerate(args)]
    if not all(isinstance(w, str) for _, w in words):
        return []  # the schema reports it
    out: list[Finding] = []
    texts = [w for _, w in words]
    if len(texts) >= 2 and texts[0] in SHELLS and texts[1] == "-c":
        if len(texts) > 3:
            out.append(doc.finding(
                f"`{texts[0]} -c SCRIPT ARG...`: Katib's pod webhook joins the ARGs into the script text with spaces "
                "(pod/utils.go wrapWorkerContainer), so they stop being $0, $1, ...: put them in the script",
                words[3][0], rule=RULE))
        if kind == "StdOut" and len(texts) > 2 and _several_commands(texts[2]):
            out.append(doc.finding(
                "Katib appends `1>/var/log/katib/metrics.log 2>&1` to this script (pod/utils.go wrapWorkerContainer): "
                "it applies to the last command only, so metrics printed by earlier commands are never collected; "
                "wrap the script in `{ ...; }` or print metrics from the last command", words[2][0],
                severity=WARNING, rule=RULE))
        return out
    if all(_plain(w, values) for w in texts):
        return out  # words of plain characters, whatever values they take: sh reads them back unchanged
    literal = [katib_rules.PLACEHOLDER.sub(NEUTRAL, w) for w in texts]
    parsed = sh_words(" ".join(literal))
    if parsed is None or len(parsed) != len(literal):
        culprit = next((k for k, w in enumerate(literal) if len(sh_words(w) or []) != 1), 0)
        out.append(doc.finding(
            f"Katib's pod webhook runs this command as `sh -c` over the words joined with spaces (pod/utils.go "
            f"wrapWorkerContainer), and sh does not read `{texts[culprit]}` as one word (it reads "
            f"{sh_words(literal[culprit]) or 'an unparsable text'}): avoid spaces and shell syntax in words, or "
            "write `command: [sh, -c, '...']` yourself", words[culprit][0], rule=RULE))
        return out
    split = _splitting_values(words, values)
    nas = {v for v in NAS_VALUES.values()}
    out += [doc.finding(
        f"the {name} value a NAS service sends for every trial (shaped like `{value}`) makes sh read this word as "
        f"{shown}: Katib's pod webhook runs the command as `sh -c` over the words joined with spaces (pod/utils.go "
        "wrapWorkerContainer), so every trial gets other arguments than written; put the placeholder in double "
        "quotes inside the word (`--x=\"${trialParameters.x}\"`)", path, rule=RULE)
        for path, name, value, shown in split if value in nas]
    split = [item for item in split if item[2] not in nas]
    out += [doc.finding(
        f"the value `{value}` of {name} makes sh read this word as {shown}: Katib's pod webhook runs the command "
        "as `sh -c` over the words joined with spaces (pod/utils.go wrapWorkerContainer), so the trials that draw "
        f"`{value}` get other arguments than written (Katib accepts and runs them); quote the placeholder in the "
        "word, or use values without spaces or shell syntax", path, severity=WARNING, rule=RULE)
        for path, name, value, shown in split]
    changed: tuple[int, list[str]] | None = None
    for texts_now in _joined_variants(words, values):
        parsed = sh_words(" ".join(texts_now))
        if parsed is None or len(parsed) != len(texts_now):
            continue  # a value that splits a word: warned above
        if changed is None and parsed != texts_now:
            k = next(k for k, (a, b) in enumerate(zip(parsed, texts_now)) if a != b)
            changed = (k, [texts_now[k], parsed[k]])
    if changed is not None:
        k, (written, got) = changed
        out.append(doc.finding(
            f"Katib's pod webhook runs this command through `sh -c` (pod/utils.go wrapWorkerContainer): the trainer "
            f"gets `{got}`, not `{written}` (sh removes quotes and backslashes)", words[k][0],
            severity=WARNING, rule=RULE))
        return out
    expanded = [(p, w) for p, w in words if EXPANDS & set(katib_rules.PLACEHOLDER.sub("", w))]
    if expanded:
        p, w = expanded[0]
        out.append(doc.finding(
            f"`{w}`: Katib's pod webhook runs the command through `sh -c` (pod/utils.go wrapWorkerContainer), which "
            "expands $, `, *, ?, [ and ~ in it; quote or escape them if they are meant literally", p,
            severity=WARNING, rule=RULE))
    return out


NEUTRAL = "x"  # a placeholder's stand-in when only the template's own words are checked


def _splitting_values(words: list[tuple[tuple[PathPart, ...], str]],
                      values: dict[str, list[str]]) -> list[tuple[tuple[PathPart, ...], str, str, str]]:
    """(word's path, trialParameter, value, what sh reads) for each value that makes its word more than one word."""
    out = []
    for path, word in words:
        for name in dict.fromkeys(m.group(1) for m in katib_rules.PLACEHOLDER.finditer(word)):
            for value in values.get(name, ()):
                text = katib_rules.PLACEHOLDER.sub(lambda m: value if m.group(1) == name else NEUTRAL, word)
                got = sh_words(text)
                if got is None or len(got) != 1:
                    out.append((path, name, value, f"{got} (several words)" if got else "an unparsable text"))
                    break
    return out


def _plain(word: str, values: dict[str, list[str]]) -> bool:
    if "${" not in word:
        return PLAIN.fullmatch(word) is not None
    names = [m.group(1) for m in katib_rules.PLACEHOLDER.finditer(word)]
    rest = katib_rules.PLACEHOLDER.sub("x", word)
    return PLAIN.fullmatch(rest) is not None and all(PLAIN.fullmatch(v) for n in names for v in values.get(n, ()))


def _joined_variants(words: list[tuple[tuple[PathPart, ...], str]], values: dict[str, list[str]]) -> Iterator[list[str]]:
    """The words with their placeholders' first values, then with each alternative value of one placeholder."""
    base = [next(_variants(w, values)) for _, w in words]
    yield base
    for k, (_, w) in enumerate(words):
        for alt in list(_variants(w, values))[1:]:
            yield base[:k] + [alt] + base[k + 1:]
