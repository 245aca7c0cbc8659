"""katib-gitops: experiment specs to a validated Katib GitOps repository."""
__version__ = "0.1.0"
