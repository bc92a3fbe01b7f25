"""Registered experiments: importing this package registers every one of them."""

from lsutils.experiments import first_experiment  # noqa: F401
