"""Profiles: where and how an experiment runs, one stage per module.

``model``    what a profile is, the built-in cpu and gpu, and how the repository's
             profiles (katib-gitops.yaml) and a spec's overrides combine;
``patches``  a profile -> JSON 6902 operations on one Experiment's trial pods
             (by role for training kinds), conflicts with the trial as errors;
``layout``   the overlays: experiments grouped by identical operations, one
             patch file per group, the overlay and root kustomizations.

Imports flow one way: model <- patches <- layout; none of them imports the
spec loader or the renderer.
"""
