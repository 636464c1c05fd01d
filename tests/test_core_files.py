"""core.files.write_atomic: the one way histbench writes a file it cannot afford to tear."""

from __future__ import annotations

import os
import stat

import pytest

from histbench.core.files import write_atomic


@pytest.mark.parametrize("durable", [False, True])
def test_written_whole_with_the_usual_permissions(tmp_path, durable):
    target = tmp_path / "deep" / "page.html"
    write_atomic(target, "héllo", durable=durable)
    assert target.read_text(encoding="utf-8") == "héllo"
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
    write_atomic(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in target.parent.iterdir()) == ["page.html"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "results.json"
    target.write_text("old")

    with pytest.raises(TypeError):
        write_atomic(target, 42)  # neither text nor bytes: fails inside the write
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
