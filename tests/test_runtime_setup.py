"""The system set-up script: one package list, runtime vs test-only, as `make demo` and `make test` use it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "setup" / "system-deps.sh"
LIST = ROOT / "tests" / "setup" / "apt-packages.txt"


def _entries() -> dict[str, str]:
    out = {}
    for line in LIST.read_text(encoding="utf-8").splitlines():
        parts = line.split("#", 1)[0].split()
        if parts:
            out[parts[0]] = parts[1] if len(parts) > 1 else "test"
    return out


def _run(tmp_path, lines: list[str], *args: str) -> subprocess.CompletedProcess:
    lst = tmp_path / "apt.txt"
    lst.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = dict(os.environ, MOBILEPACK_APT_PACKAGES=str(lst), MOBILEPACK_SETUP_CACHE=str(tmp_path / "stamps"))
    # no root/apt path: a PATH without apt-get, so nothing is installed and the script must name the packages
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin" if os.geteuid() != 0 else str(tmp_path / "nobin") + ":/bin"
    (tmp_path / "nobin").mkdir(exist_ok=True)
    for tool in ("dpkg", "dpkg-query", "id", "find", "cat", "touch", "mkdir"):
        for d in ("/usr/bin", "/bin"):
            if os.path.exists(f"{d}/{tool}") and not (tmp_path / "nobin" / tool).exists():
                (tmp_path / "nobin" / tool).symlink_to(f"{d}/{tool}")
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=120)


def test_list_tags_every_package_and_names_the_runtime_ones():
    entries = _entries()
    assert set(entries.values()) <= {"runtime", "runtime-optional", "test"}
    runtime = {name for name, tag in entries.items() if tag != "test"}
    assert "libusb-1.0-0" not in runtime                 # only tflite-support (dropped) linked libusb-1.0.so.0
    assert entries["chromium"] == "runtime-optional"     # SwiftShader for the GPU check
    assert entries["aapt"] == "test"


def test_runtime_mode_names_a_missing_required_package_and_fails(tmp_path):
    r = _run(tmp_path, ["mobilepack-no-such-package runtime", "mobilepack-no-such-tool test"], "--runtime")
    assert r.returncode == 1, r
    assert "needs these Debian packages: mobilepack-no-such-package" in r.stderr
    assert "apt-get install mobilepack-no-such-package" in r.stderr
    assert "mobilepack-no-such-tool" not in r.stderr     # test-only packages are not the demo's business


def test_runtime_mode_notes_a_missing_optional_package_and_goes_on(tmp_path):
    r = _run(tmp_path, ["mobilepack-no-such-gpu runtime-optional", "bash runtime"], "--runtime")
    assert r.returncode == 0, r
    assert "GPU check is skipped" in r.stderr and "mobilepack-no-such-gpu" in r.stderr


def test_full_mode_never_fails_the_test_setup(tmp_path):
    r = _run(tmp_path, ["mobilepack-no-such-package runtime", "mobilepack-no-such-tool test"])
    assert r.returncode == 0, r
    assert "mobilepack-no-such-package mobilepack-no-such-tool" in r.stderr


def test_make_demo_runs_the_runtime_setup_before_the_build():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    demo = next(line for line in makefile.splitlines() if line.startswith("demo:"))
    assert "runtime-deps" in demo
    assert "system-deps.sh --runtime" in makefile
