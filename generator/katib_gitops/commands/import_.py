"""katib-gitops import: turn an existing Katib Experiment manifest into a spec."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path



def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import",
        help="turn an existing Katib Experiment manifest into a spec",
        description="Read a kubeflow.org/v1beta1 Experiment (the first one in the file) and write the spec that "
        "renders it back. Short forms are used only where rendering them gives back the same Experiment "
        "(with Katib's defaults applied); anything else stays verbatim in trial.template or nasConfig.",
    )
    p.add_argument("experiment", metavar="EXPERIMENT.yaml", help="Experiment manifest ('-' for stdin)")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write the spec here (default: stdout), named after the file (experiments/NAME.yaml holds the "
                   "spec NAME); refuses to overwrite an existing file unless --force")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p.set_defaults(func=run)


# A spec's name (spec.schema.json's dnsName): the file name of -o must be one, as render requires.
_SPEC_NAME = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_MAX_NAME = 40


def _name_from(output: str) -> str | None:
    """The spec name -o FILE gives (its file name), or a usage error before anything is read or written.

    None for something that is there and no regular file (a directory, a device): writing refuses it, by name.
    """
    from ..io.findings import Finding, UserError

    path = Path(output)
    if (path.exists() or path.is_symlink()) and not path.is_file():
        return None
    if path.suffix not in (".yaml", ".yml"):
        raise UserError(Finding("a spec file ends in .yaml (render reads experiments/NAME.yaml)", file=output,
                                line=0, column=0, rule="import"), exit_code=2)
    if not _SPEC_NAME.fullmatch(path.stem) or len(path.stem) > _MAX_NAME:
        raise UserError(Finding(f"the file name is the spec's name, and {path.stem!r} is not one: lowercase letters, "
                                f"digits and '-', starting with a letter, at most {_MAX_NAME} characters", file=output,
                                line=0, column=0, rule="import"), exit_code=2)
    return path.stem


def run(args: argparse.Namespace) -> int:
    from ..pipeline.importer import dump_spec, find_experiment, import_experiment

    name = _name_from(args.output) if args.output else None
    source = args.experiment
    if source == "-":
        from ..pipeline.importer import find_experiment_in
        from ..io.yamlio import MAX_BYTES, decode, load_documents

        name = "<stdin>"  # read in memory: no temporary file, and errors name what the user gave
        raw = sys.stdin.buffer.read(MAX_BYTES + 1)  # endless input: refused at the limit
        doc = find_experiment_in(load_documents(decode(raw, name), name), name)
    else:
        doc = find_experiment(source)
    from ..repo.repository import load_repo

    repo = load_repo(Path(args.output).resolve().parent if args.output else ".")
    spec = import_experiment(doc, repo.config.default_profile, name)
    text = dump_spec(spec, Path(source).name if source != "-" else "stdin")
    if not args.output:
        sys.stdout.write(text)
        return 0
    from ..io.safefs import write_file

    write_file(Path(args.output), text, args.output, force=args.force)
    from ..io.safetext import clean

    print(clean(f"wrote {args.output}"), file=sys.stderr)
    return 0
