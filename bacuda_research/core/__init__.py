"""Plumbing shared by every task: paths, configs, atomic I/O, reports, runtime, Lightning helpers.

Imports nothing else from the package (the bottom of the import order, see ``bacuda_research``).
"""
