"""What happened on the cluster: each Experiment's status, ranked as Katib ranks trials, and the results files
recorded from it.
"""
