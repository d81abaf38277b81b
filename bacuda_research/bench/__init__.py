"""Benchmark suites (``suites``: plan, run, resume, ``--check``), result tables (``tables``) and
plots (``plots``), all generated from run reports, never typed by hand."""
