"""New repositories: the cookiecutter scaffold, where it sits in git, and how its CI installs the tool."""
