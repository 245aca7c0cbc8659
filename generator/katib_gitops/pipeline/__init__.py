"""Whole-repository verdicts: render's gate over the staged tree, check, and import."""
