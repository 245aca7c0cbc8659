"""Run a Katib Experiment on this machine, with Katib's semantics and no cluster.

``run_experiment(experiment, options)`` takes a plain ``kubeflow.org/v1beta1``
Experiment dict, so it works on what ``render`` writes and on any Experiment
manifest. Modules, one per concern: plan (the Experiment, typed), suggest
(search algorithms), executor (trial processes, GPUs), metrics (collectors),
lifecycle (experiment conditions, median stop), results (trials.jsonl,
status, summary), progress (terminal output), plot (parallel coordinates),
engine (the loop).
"""

from .engine import RunOptions, RunResult, run_experiment

__all__ = ["RunOptions", "RunResult", "run_experiment"]
