"""The spec: its schema and typed model, the settings file's schema, Experiment names, Katib's webhook
defaults, Kubernetes quantities and size limits, the services' search spaces, and the spec as a Katib
Experiment.
"""
