"""Each layer folder of the repository installs as ``spark.<layer>``."""

from setuptools import find_packages, setup

LAYERS = ("core", "nodes", "bridges", "hub", "ui", "app")

setup(
    package_dir={f"spark.{layer}": layer for layer in LAYERS},
    packages=[f"spark.{name}" for layer in LAYERS
              for name in find_packages(include=[layer, f"{layer}.*"])],
)
