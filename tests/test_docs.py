"""Committed Markdown is portable and the README stays an orientation.

A page a reader opens on another machine must not name this machine's folders (``/work/...``,
``/tmp/...``, a home folder, a ``site-packages`` path) or a ``-dirty`` commit: generators write
through ``bacuda_research.core.portable.write_markdown``; reports and JSON keep the raw provenance.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from bacuda_research.core.paths import CHECKOUT

# an absolute path into a machine's own folders (not preceded by a word character, ".", "~", ":" or "/")
MACHINE_PATH = re.compile(r"(?<![\w.~:/$<>-])/(?:work|tmp|root|home|Users|mnt|scratch|private|var/folders)/")
BAD = [(MACHINE_PATH, "absolute machine path"), (re.compile(r"site-packages|dist-packages"), "site-packages path"),
       (re.compile(r"-dirty\b"), "'-dirty' git hash")]


def committed_markdown() -> list[str]:
    if CHECKOUT is None:
        pytest.skip("needs a checkout (git ls-files)")
    out = subprocess.run(["git", "ls-files", "*.md"], cwd=CHECKOUT, capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip("git not available")
    return [f for f in out.stdout.split("\n") if f and (CHECKOUT / f).is_file()]


def test_the_pattern_catches_what_it_should():
    for text in ("see /work/shared/x.csv", "`--out /tmp/erv`", "(/root/.cache)", "git 7fcb1f4-dirty",
                 "encoder /x/lib/python3.11/site-packages/gt/model"):
        assert any(p.search(text) for p, _ in BAD), text
    for text in ("decl/s", "./tmp/x", "https://example.org/work/x", "<tmp>/erv", "heads/MiniLM", "~/x"):
        assert not any(p.search(text) for p, _ in BAD), text


def test_committed_markdown_has_no_machine_paths_or_dirty_hashes():
    files = committed_markdown()
    assert "README.md" in files
    found = []
    for f in files:
        for n, line in enumerate((CHECKOUT / f).read_text(encoding="utf-8").splitlines(), 1):
            found += [f"{f}:{n}: {what}: {line.strip()[:120]}" for pattern, what in BAD if pattern.search(line)]
    assert not found, "\n".join(found)


def test_readme_is_an_orientation_with_the_two_commands():
    text = (CHECKOUT / "README.md").read_text(encoding="utf-8") if CHECKOUT else pytest.skip("needs a checkout")
    assert len(text.splitlines()) <= 200
    for section in ("## Quickstart", "## Tests"):
        body = text.split(section + "\n", 1)[1].split("\n## ", 1)[0]
        assert body.count("```bash") == 1, f"{section}: exactly one code block (.ci/run follows it)"
    for doc in re.findall(r"\]\((docs/[\w.]+\.md|experiments/[\w/]+\.md)\)", text):
        assert (CHECKOUT / doc).is_file(), f"README links to a missing {doc}"
