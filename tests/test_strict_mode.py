"""tests/conftest.py's strict mode: with BACUDA_TEST_STRICT=1 (.ci/run) every skip is a failure that
keeps its reason; without it a skip stays a skip. An inner pytest run (a subprocess: the conftest reads
the variable when it is imported) on the real conftest and a few tiny tests shows both."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

INNER = """
import pytest

def test_passes():
    pass

def test_skips_inside():
    pytest.skip("needs the shared data")

@pytest.mark.skipif(True, reason="no compiler")
def test_skipped_by_marker():
    pass

@pytest.mark.xfail(reason="a known bug", strict=True)
def test_expected_failure():
    assert False
"""
INNER_MODULE_SKIP = """
import pytest

pytest.importorskip("a_module_nobody_installed")

def test_never_collected():
    pass
"""


@pytest.fixture
def inner(pytester):
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text())
    pytester.makepyfile(test_inner=INNER, test_inner_module=INNER_MODULE_SKIP)
    return pytester


def test_skips_stay_skips_without_strict_mode(inner, monkeypatch):
    monkeypatch.delenv("BACUDA_TEST_STRICT", raising=False)
    result = inner.runpytest_subprocess("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(passed=1, skipped=3, xfailed=1)
    assert result.ret == 0


def test_strict_mode_turns_every_skip_into_a_failure_with_its_reason(inner, monkeypatch):
    monkeypatch.setenv("BACUDA_TEST_STRICT", "1")
    result = inner.runpytest_subprocess("-p", "no:cacheprovider", "test_inner.py")
    # pytest.skip() in the test fails it; a skip marker fails its setup (an error); xfail stays xfail
    result.assert_outcomes(passed=1, failed=1, errors=1, xfailed=1)
    assert result.ret == 1
    out = result.stdout.str()  # each failure keeps its reason
    for reason in ("no compiler", "needs the shared data"):
        assert f"skipped, but BACUDA_TEST_STRICT=1 expects everything here: Skipped: {reason}" in out, reason
    # a module skipped at collection is a collection error (which stops the run)
    result = inner.runpytest_subprocess("-p", "no:cacheprovider", "test_inner_module.py")
    result.assert_outcomes(errors=1)
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*BACUDA_TEST_STRICT=1 expects everything here*a_module_nobody_installed*"])
