"""The README's Python examples run as written.

Every ```python block of README.md is executed, in order, in one namespace
(a later block may use what an earlier one made), in a temporary working
directory, so the examples a user copies are the examples that work.
"""
import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text):
    """The bodies of the ```python fenced blocks of ``text``, in order."""
    return [
        m.group(1)
        for m in re.finditer(r"^```python\n(.*?)^```", text, re.M | re.S)
    ]


def test_python_blocks_are_found():
    assert python_blocks("x\n```python\na = 1\n```\n```bash\nls\n```\n") == [
        "a = 1\n"
    ]


@pytest.mark.torch
@pytest.mark.requires_deepchem
@pytest.mark.skipif(not README.is_file(),
                    reason="needs the repository's README.md, not at %s" %
                    README)
def test_readme_python_examples_run(tmp_path, monkeypatch):
    blocks = python_blocks(README.read_text())
    assert len(blocks) >= 3
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "readme"}
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, "README.md python block %d" % (i + 1), "exec"),
                 namespace)
        except Exception as err:  # name the block that failed
            raise AssertionError("README python block %d failed: %r\n%s" %
                                 (i + 1, err, block)) from err
