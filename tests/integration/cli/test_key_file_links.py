"""A symbolic link in the key file's place is refused, and its target is left alone.

Otherwise the owner check judges the link's target, the lines of any file
the service's user may read (/etc/passwd for root) become signing keys that
anyone can read, and "tightening" the key file changes the target's mode.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.integration.cli.test_cli import trialalerts
from tests.integration.cli.test_startup_checks import KEY_FILE, _one_line_naming

PUBLIC_TEXT = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"


@pytest.mark.parametrize("command", [("subscribers", "list"), ("web",)], ids=["list", "web"])
def test_a_key_file_that_is_a_link_is_refused_and_its_target_untouched(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    target = tmp_path / "elsewhere" / "passwd"
    target.parent.mkdir()
    target.write_text(PUBLIC_TEXT)
    target.chmod(0o644)
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / KEY_FILE).symlink_to(target)
    _one_line_naming(trialalerts(*command, cwd=tmp_path / "site"), KEY_FILE)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert target.read_text() == PUBLIC_TEXT
    assert not (tmp_path / "site" / "trialalerts.db").exists()


def test_a_key_file_that_is_a_folder_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE).mkdir(mode=0o755)
    os.chmod(tmp_path / KEY_FILE, 0o755)
    _one_line_naming(trialalerts("subscribers", "list", cwd=tmp_path), KEY_FILE)
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o755
