"""Nothing is ever written outside OUT: rendered paths, app names and files taken from a model's
metadata cannot escape the output directory."""

from __future__ import annotations

import pytest

from mobilepack.errors import UsageError
from mobilepack.render.renderer import _safe_relative
from tests.conftest import DIGITS, run_cli, snapshot


@pytest.mark.parametrize("bad", ["../evil.txt", "a/../../evil", "/etc/passwd", "x\x00y"])
def test_rendered_paths_cannot_escape(bad):
    with pytest.raises(UsageError):
        _safe_relative(bad)


@pytest.mark.parametrize("target", ["android", "ios"])
def test_hostile_app_name_stays_inside_out(tmp_path, target):
    import mobilepack

    conv = tmp_path / "conv"
    mobilepack.convert(DIGITS / "digits.keras", conv, quantize="fp32")
    before = snapshot(tmp_path)
    out = tmp_path / "work" / "app"
    r = run_cli("render", conv, "--target", target, "-o", out, "--app-name", "../../../escape/../..\\evil/x",
                "--labels", DIGITS / "labels.txt")
    assert r.returncode == 0, r.stderr
    after = snapshot(tmp_path)
    new = {k for k in after if k not in before}
    assert new and all(k.startswith("work/app/") for k in new), sorted(new)[:5]
    assert not (tmp_path / "escape").exists()
