"""Input and output: findings (what every stage reports), YAML and JSON as data, sanitised text, the package's
own data files, safe file access, external tools as killable processes, Go's number parsing.
"""
