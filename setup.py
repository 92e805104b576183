"""The package list, found rather than written out: a new engine's folder under chemaccel/ is packaged
without editing pyproject.toml (everything else about the build lives there)."""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["chemaccel", "chemaccel.*"]), "chemaccel_gui", "chemaccel_resources"])
