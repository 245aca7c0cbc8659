"""The live cluster as input: Experiments read from kubectl's output, and Katib's rules for updating them."""
