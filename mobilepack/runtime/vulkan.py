"""Finding a Vulkan driver for LiteRT's GPU accelerator: a real one, else SwiftShader from
Debian's chromium package (software: functional only), else none.  A leaf module: the child
runner (which starts the zygote with the loader's path) and ``runtime.gpu`` both read it."""

from __future__ import annotations

import ctypes.util
import glob
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

# Where Debian's chromium installs SwiftShader's ICD manifest.
_SWIFTSHADER_ICDS = ("/usr/lib/chromium/vk_swiftshader_icd.json",
                     "/usr/lib/chromium-browser/vk_swiftshader_icd.json")
_SYSTEM_ICD_DIRS = ("/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d")
_SOFTWARE_ICD_WORDS = ("swiftshader", "lvp", "lavapipe")


@dataclass(frozen=True)
class VulkanSetup:
    """How a child process should find Vulkan."""

    source: str                 # "user" (VK_ICD_FILENAMES already set), "system", "swiftshader", "none"
    env: dict[str, str]         # variables to add to the child's environment
    icd: str | None             # the ICD manifest in use, when known
    software: bool              # SwiftShader / lavapipe: functional only
    message: str                # one line for humans


def _swiftshader_icd() -> str | None:
    candidates = list(_SWIFTSHADER_ICDS)
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe:
        candidates.insert(0, str(Path(os.path.realpath(exe)).parent / "vk_swiftshader_icd.json"))
    return next((c for c in candidates if os.path.isfile(c)), None)


def _system_icds() -> list[str]:
    found: list[str] = []
    for d in _SYSTEM_ICD_DIRS:
        found.extend(sorted(glob.glob(os.path.join(d, "*.json"))))
    return found


def discover_vulkan(environ: dict[str, str] | None = None) -> VulkanSetup:
    """Real Vulkan driver first, SwiftShader from chromium otherwise, else none."""
    environ = dict(os.environ if environ is None else environ)
    user_icd = environ.get("VK_ICD_FILENAMES") or environ.get("VK_DRIVER_FILES")
    if user_icd:
        soft = any(w in user_icd.lower() for w in _SOFTWARE_ICD_WORDS)
        return VulkanSetup("user", {}, user_icd, soft, f"Vulkan ICD from the environment: {user_icd}")
    loader = ctypes.util.find_library("vulkan")
    hardware = [p for p in _system_icds() if not any(w in Path(p).name.lower() for w in _SOFTWARE_ICD_WORDS)]
    if loader and hardware:
        return VulkanSetup("system", {}, None, False, f"system Vulkan driver ({', '.join(Path(p).name for p in hardware)})")
    icd = _swiftshader_icd()
    if icd:
        env = {"VK_ICD_FILENAMES": icd}
        if not loader:  # chromium ships its own libvulkan.so.1 loader beside the ICD
            lib_dir = str(Path(icd).parent)
            env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (lib_dir, environ.get("LD_LIBRARY_PATH", "")) if p)
        return VulkanSetup("swiftshader", env, icd, True, f"SwiftShader (software Vulkan) from chromium: {icd}")
    return VulkanSetup("none", {}, None, False,
                       "no Vulkan driver and no SwiftShader (install Debian's chromium package for software Vulkan)")
