"""Output is data, not control: one sanitiser (``safetext``) for every reporter and every printed value.

Property tests over arbitrary Unicode for the sanitiser itself, then a hostile value (HOSTILE: ANSI, \\r,
bidi, zero-width, C1, ``::`` commands after newlines, ``##[``, markdown that would escape a code span) in
each field that reaches output: findings (text, json, github), file names, live status (status, plan,
results), kubectl's stderr and the runner's lines.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostile_support import HOSTILE, fake_tool, refused, run, safe_output, use_tools
from test_corpus import SHAPED, fresh_repo, rendered_template, snapshot  # noqa: F401 (fixture)

from katib_gitops.io.findings import Finding
from katib_gitops.io.safetext import clean, clean_lines, gh_data, gh_property, md_code
from katib_gitops.validation import reporters
from katib_gitops.io.yamlio import dump

PROPERTY = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
ANY_TEXT = st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=60) | \
    st.sampled_from([HOSTILE, "::add-mask::x", "  ::error::x", "a\n::b", "##[x]", "\u2003::x", "`", "``|``"])
UNSAFE_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs"}


def _no_unsafe_char(text: str) -> bool:
    import unicodedata

    return not any(unicodedata.category(ch) in UNSAFE_CATEGORIES for ch in text)


@pytest.fixture
def repo(rendered_template: Path, tmp_path: Path) -> Path:
    return fresh_repo(rendered_template, tmp_path)


# --------------------------------------------------------------------------- the sanitiser, property-tested


@PROPERTY
@given(ANY_TEXT)
def test_clean_gives_one_safe_line_whatever_the_text(text):
    out = clean(text)
    assert _no_unsafe_char(out) and "\n" not in out and "\r" not in out
    assert not out.lstrip().startswith("::") and "##[" not in out
    assert clean(out) == out  # idempotent: cleaning twice changes nothing
    out.encode("utf-8")  # lone surrogates escaped: any UTF-8 terminal can print it
    if text.isascii() and text.isprintable() and "##[" not in text and not text.lstrip().startswith("::"):
        assert out == text  # plain text is left alone


@PROPERTY
@given(st.lists(ANY_TEXT, max_size=4), ANY_TEXT)
def test_clean_escapes_are_json_and_yaml_escapes_so_the_data_survives(values, key):
    doc = {key: values}
    text = clean_lines(json.dumps(doc, ensure_ascii=False, indent=2))
    assert json.loads(text) == doc  # JSON output: the same data, no raw control or hidden character
    safe_output(text)
    if re.search("[\ud800-\udfff]", json.dumps(doc, ensure_ascii=False)):
        return  # a lone surrogate is no character: YAML cannot hold one (the loaders refuse it: below)
    dumped = dump(doc)
    safe_output(dumped)
    assert yaml.load(dumped, Loader=yaml.SafeLoader) == doc  # YAML output (results, import): same data


@pytest.mark.parametrize("text", ['a: "\\ud800"\n', 'a: "x\\udfffy"\n', "- \"\\U0000DBFF\"\n"])
def test_a_lone_surrogate_in_yaml_is_refused_at_its_line(text):
    from katib_gitops.io.findings import UserError
    from katib_gitops.io.yamlio import load_documents

    with pytest.raises(UserError) as err:
        load_documents(text, "f.yaml")
    assert SHAPED.match(err.value.finding.one_line()) and "surrogate" in err.value.finding.message


@PROPERTY
@given(ANY_TEXT, st.booleans())
def test_md_code_cannot_be_left(text, cell):
    span = md_code(text, cell)
    if not text:
        assert span == "(empty)"
        return
    assert "\n" not in span and _no_unsafe_char(span)
    fence = re.match(r"`+", span).group()
    body = span[len(fence):-len(fence)]
    assert span.endswith(fence) and fence not in body  # no backtick run inside closes the span early
    if cell:
        assert re.search(r"(?<!\\)\|", body) is None  # every | escaped: no table cell ends inside


@PROPERTY
@given(ANY_TEXT)
def test_github_escapes_as_the_runner_unescapes(text):
    data, prop = gh_data(text), gh_property(text)
    assert not any(ch in data + prop for ch in "\r\n") and "::" not in prop and "," not in prop
    unescaped = data.replace("%0A", "\n").replace("%0D", "\r").replace("%25", "%")  # ActionCommand's order
    assert unescaped == clean(text)


def test_the_character_table_is_the_running_pythons():
    """Every code point of categories Cc, Cf, Zl, Zp, Cs is escaped; the table is not allowed to fall behind."""
    import unicodedata

    missed = [hex(cp) for cp in range(0x110000)
              if unicodedata.category(chr(cp)) in UNSAFE_CATEGORIES and clean(chr(cp)) == chr(cp)]
    assert missed == []


# --------------------------------------------------------------------------- reporters: every field of a finding


@pytest.mark.parametrize("field", ["file", "message", "path", "rule"])
@pytest.mark.parametrize("fmt", ["text", "json", "github"])
def test_every_reporter_escapes_every_field_of_a_finding(field, fmt):
    values = {"file": "base/x.yaml", "message": "bad", "path": ("spec", "a"), "rule": "r"}
    values[field] = (HOSTILE, "k") if field == "path" else HOSTILE
    f = Finding(values["message"], tuple(values["path"]), values["file"], 3, 4, rule=values["rule"])
    out = reporters.render([f], fmt)
    if fmt == "github":
        (line,) = out.splitlines()
        # As the runner parses it (ActionCommand.TryParseV2): the command and its properties are ours alone.
        command = line[2:line.index("::", 2)]
        assert command == f"error file={gh_property(f.file)},line=3,col=4,title={gh_property(f.rule)}"
        assert not any(ch in line for ch in "\x1b\r\u202e\u200b") and "##[" not in line
    else:
        safe_output(out)
    if fmt == "json":
        (back,) = json.loads(out)
        want = {"file": f.file, "message": f.message, "path": f.dotted, "rule": f.rule}[field]
        assert back[field] == want  # data, escaped the JSON way: decodes to exactly the value


# --------------------------------------------------------------------------- values that reach output from files


def test_a_hostile_spec_value_is_one_safe_line_in_text_json_and_github(repo: Path, capsys):
    spec = repo / "experiments" / "iris.yaml"
    spec.write_text(spec.read_text().replace("algorithm: random", f"algorithm: {json.dumps(HOSTILE)}"))
    before = snapshot(repo)
    for fmt in ("text", "json", "github"):
        code, out, err = run(["check", "-C", str(repo), "--output", fmt], capsys)
        assert code == 1
        safe_output(out + err, github=fmt == "github")
        if fmt == "github":
            assert all(ln.startswith(("::error ", "::warning ")) for ln in out.splitlines())
        if fmt == "json":
            assert any(HOSTILE[:9] in f["message"] for f in json.loads(out))  # the data itself, intact
    code, out, err = run(["render", "-C", str(repo)], capsys)
    refused(code, err, 1, "experiments/iris.yaml:", repo, before)
    safe_output(err)


def test_a_hostile_file_name_is_escaped(tmp_path: Path, capsys):
    d = tmp_path / "in"
    d.mkdir()
    (d / "::error::x\u202e\x1b[2J.yaml").write_text("a: [\n")
    code, out, err = run(["validate", str(d)], capsys)
    assert code == 1
    safe_output(out + err)
    (line,) = out.splitlines()
    assert line.startswith('"') and '.yaml":2:1: invalid YAML' in line  # quoted, as any odd name is


def _live(tmp_path: Path, name: str, reason: str, param: str) -> Path:
    from live_support import item

    it = item("goal-reached")
    it["metadata"]["name"] = name
    it["metadata"]["labels"]["katib-gitops.dev/spec"] = "iris"
    for c in it["status"]["conditions"]:
        c["reason"] = reason
        c["message"] = reason
    it["status"]["currentOptimalTrial"]["bestTrialName"] = reason
    it["status"]["currentOptimalTrial"]["parameterAssignments"][0]["value"] = param
    path = tmp_path / "live.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [it]}))
    return path


@pytest.mark.parametrize("argv", [
    ["status"], ["status", "--output", "markdown"], ["status", "--output", "json"],
    ["results"], ["plan", "--output", "markdown"], ["plan"],
])
def test_hostile_live_status_is_data_in_every_format(repo: Path, tmp_path: Path, argv: list[str], capsys):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "live"))
    name = yaml.safe_load((repo / "base" / "cpu" / "iris.yaml").read_text())["metadata"]["name"]
    live = _live(tmp_path, name, HOSTILE, HOSTILE)
    if argv[0] == "plan":
        if __import__("shutil").which("git") is None:
            pytest.skip("git not installed")
        import subprocess

        env = {**__import__("os").environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e",
               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e"}
        for git in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "base"]):
            subprocess.run(["git", "-C", str(repo), *git], check=True, env=env, capture_output=True)
        spec = repo / "experiments" / "iris.yaml"
        spec.write_text(spec.read_text().replace("max: 12", "max: 13"))
        argv = [*argv, "--base", "HEAD"]
    code, out, err = run([argv[0], "-C", str(repo), "--live", str(live), *argv[1:]], capsys)
    assert code == (3 if argv[0] == "plan" else 0), err  # plan: Katib refuses changing a completed Experiment
    safe_output(out + err)
    if "markdown" in argv:
        # Values sit in code spans: nothing of them is markup outside one.
        outside_spans = re.sub(r"(`+)(?:(?!\1).)*\1", "", out)
        for markup in ("</details>", "<!--", "@octocat", "![i]", "[l]("):
            assert markup not in outside_spans, markup
    if argv[:1] == ["results"]:
        docs = [d for d in out.split("--- ") if d.strip()]
        data = yaml.safe_load(docs[0].split("\n", 1)[1])
        assert data["experiments"][0]["reason"] == HOSTILE  # the data itself, exactly


def test_kubectls_stderr_is_one_safe_line(repo: Path, tmp_path: Path, monkeypatch, capsys):
    bin_dir = tmp_path / "bin"
    fake_tool(bin_dir, "kubectl", 'case "$1" in config) exit 0;; esac\n'
              'printf "\\033[31merror\\r::add-mask::x\\n::error::forged \\342\\200\\256 gone\\n" >&2\nexit 1\n')
    use_tools(monkeypatch, bin_dir)
    before = snapshot(repo)
    code, out, err = run(["status", "-C", str(repo), "--live", "kubectl"], capsys)
    refused(code, err, 2, "--live kubectl:0:0: `kubectl get experiments", repo, before)
    safe_output(err)


def test_the_runners_output_is_safe(tmp_path: Path, capsys):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runner"))
    from runner_helpers import experiment

    from katib_gitops.cli import main

    value = "v\u202e::add-mask::p"  # a control character Katib refuses (it breaks its JSON): not here
    exp = experiment(["sh", "-c", "printf '\\033[2J::error::forged\\n##[warning]x\\n'; exit 3 # ${trialParameters.x}"],
                     parameters=[{"name": "x", "parameterType": "categorical", "feasibleSpace": {"list": [value]}}],
                     max_trials=1, parallel=1, collector={"collector": {"kind": "None"}})
    spec = tmp_path / "exp.yaml"
    spec.write_text(yaml.safe_dump(exp))
    code = main(["run", str(spec), "--workdir", str(tmp_path), "--out", str(tmp_path / "out"), "--no-plot"])
    out, err = capsys.readouterr()
    assert code in (0, 1) and "Traceback" not in err  # a failed trial: maxTrialCount 1 reached all the same
    safe_output(out + err)
    assert "::error::forged" in err and "\\u202e" in err  # shown, as text
