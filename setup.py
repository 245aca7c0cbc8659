"""Package discovery for setuptools (everything else is in pyproject.toml).

Every package under generator/ is found rather than listed, so a new subpackage cannot be left out of the
wheel; namespace discovery includes the template's data folder (templates/repo), which Python could import.
katib_gitops.schemas is the one package outside generator/: pyproject.toml's package-dir maps it to the
top-level schemas/ folder, where discovery (which only names what it finds under the folder it searches)
cannot see it as part of katib_gitops.
"""

from setuptools import find_namespace_packages, setup

setup(packages=[*find_namespace_packages("generator", include=["katib_gitops", "katib_gitops.*"],
                                         exclude=["*.__pycache__"]),
                "katib_gitops.schemas"])
