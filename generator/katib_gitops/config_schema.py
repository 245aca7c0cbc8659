"""katib-gitops.yaml: checked against schemas/config.schema.json, parsed into RepoConfig."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from .findings import UserError
from .profiles.model import conflicts, repo_profiles
from .repo import CONFIG_FILE, ArgoSettings, FluxSettings, GitSource, RepoConfig
from .yamlio import load_one


@lru_cache(maxsize=None)
def _validator() -> Any:
    import jsonschema

    files = resources.files("katib_gitops.schemas")
    schema = json.loads(files.joinpath("config.schema.json").read_text())
    # One definition of a profile, in spec.schema.json: the settings file and a spec's overrides take the same keys.
    spec_defs = json.loads(files.joinpath("spec.schema.json").read_text())["$defs"]
    schema["$defs"] = {**spec_defs, **schema.get("$defs", {})}
    return jsonschema.validators.validator_for(schema)(schema)


def parse_config(path: Path) -> RepoConfig:
    from .spec import _schema_finding  # one wording for schema errors in every human-owned file

    doc = load_one(str(path), CONFIG_FILE)
    if not isinstance(doc.data, dict):
        raise UserError(doc.finding("expected a mapping of settings", rule="config"))
    errors = sorted(_validator().iter_errors(doc.data), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        raise UserError(_schema_finding(doc, errors[0]))
    d = doc.data
    git, argo, flux = d.get("git", {}), d.get("argocd", {}), d.get("flux", {})
    dg, da, df = GitSource(), ArgoSettings(), FluxSettings()
    profiles = repo_profiles(d.get("profiles"))
    for name, profile in profiles.items():
        for path, message in conflicts(profile):
            raise UserError(doc.finding(message, ["profiles", name, *path], rule="profile"))
    default = d.get("defaultProfile", RepoConfig.default_profile)
    if default not in profiles:
        raise UserError(doc.finding(f"no profile {default!r} (have: {', '.join(sorted(profiles))}); define it under "
                                    "profiles:", ["defaultProfile"], rule="profile"))
    return RepoConfig(
        namespace=d.get("namespace", RepoConfig.namespace),
        default_profile=default,
        profiles=profiles,
        sync=d.get("sync", RepoConfig.sync),
        prune=d.get("prune", False),
        create_namespace=d.get("createNamespace", False),
        git=GitSource(repo_url=git.get("repoURL", dg.repo_url), revision=git.get("revision", dg.revision),
                      path=git.get("path", dg.path)),
        argocd=ArgoSettings(enabled=argo.get("enabled", da.enabled), mode=argo.get("mode", da.mode),
                            namespace=argo.get("namespace", da.namespace), project=argo.get("project", da.project)),
        flux=FluxSettings(enabled=flux.get("enabled", df.enabled), namespace=flux.get("namespace", df.namespace),
                          interval=flux.get("interval", df.interval)),
        extra_algorithms=tuple(d.get("algorithms", ())),
        extra_early_stopping=tuple(d.get("earlyStoppingAlgorithms", ())),
        extra_collectors=tuple(d.get("metricsCollectors", ())),
        inject_security_context=d.get("injectSecurityContext", False),
    )
