"""Each layer folder of the repository installs as ``spark.<layer>``.

Folders that hold only data files (``nodes/vision/samples``, ``ui/api/data``) are listed as
packages too (namespace packages, no ``__init__.py``): setuptools warns about package data in a
folder that is not in ``packages``.
"""

from setuptools import find_namespace_packages, setup

LAYERS = ("core", "nodes", "bridges", "hub", "ui", "app")

setup(
    package_dir={f"spark.{layer}": layer for layer in LAYERS},
    packages=[name for layer in LAYERS
              for name in (f"spark.{layer}", *(f"spark.{layer}.{sub}" for sub in
                           find_namespace_packages(where=layer, exclude=["*__pycache__"])))],
)
