"""Packages are found under evaluator/; the shipped rules/ and schemas/ folders are
added as data packages of tos_policy (pyproject.toml maps their directories)."""

from setuptools import find_packages, setup

setup(packages=[*find_packages("evaluator"), "tos_policy.bundled_rules", "tos_policy.bundled_schemas"])
