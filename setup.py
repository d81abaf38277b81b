"""Packages and package data (metadata and dependencies are in pyproject.toml).

``conf/`` stays at the repository's top level, where users look for it, and is also shipped inside
the wheel as the package ``bacuda_research.conf``: an installed (non-editable) package finds its
configs there (``bacuda_research.core.paths``).
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["bacuda_research", "bacuda_research.*"]), "bacuda_research.conf"],
    package_dir={"bacuda_research.conf": "conf"},
    package_data={
        "bacuda_research.conf": ["*.yaml", "*/*.yaml", "*/*/*.yaml"],
        # declared schemas shipped with the package (bacuda_research.declarations.declared.load_schema)
        "bacuda_research.declarations": ["schemas/*.yaml"],
        # C sources of the native kernels, compiled on first use
        "bacuda_research.fraud.kernels": ["*.c"],
        # real goods descriptions with HS codes and their data card (bacuda_research.hs.realdesc)
        "bacuda_research.hs": ["realdata/*.csv", "realdata/*.md", "realdata/*.txt"],
    },
)
