"""The generated Android project's toolchain, read from the golden ``android-demo/`` (Google's Maven
and Gradle's distributions are not reachable here, so no Gradle sync runs; the Kotlin compiles with
kotlinc and the resources link with aapt2 in test_android_checks.py).

The rules, each from a source named in ``gradle/libs.versions.toml``: AGP 9 with built-in Kotlin (no
``org.jetbrains.kotlin.android`` plugin anywhere), a Gradle 9 wrapper at least as new as that AGP
needs and new enough to run on JDK 25 (Gradle >= 9.1), targetSdk >= 36 (Google Play's rule since
31 August 2026), and a comment for every catalog version.  A project on the old pins fails them.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT

GOLDEN = ROOT / "android-demo"
# AGP minor -> the oldest Gradle it accepts (developer.android.com AGP 9.x release notes)
AGP_MIN_GRADLE = {(9, 0): (9, 1, 0), (9, 1): (9, 2, 1), (9, 2): (9, 4, 1), (9, 3): (9, 5, 0)}
FIRST_GRADLE_ON_JDK25 = (9, 1, 0)
PLAY_TARGET_SDK = 36


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def toolchain_problems(project: Path) -> list[str]:
    catalog_text = (project / "gradle" / "libs.versions.toml").read_text(encoding="utf-8")
    catalog = tomllib.loads(catalog_text)
    versions = catalog["versions"]
    problems = []
    agp = _version(versions.get("agp", "0"))
    if agp[:1] != (9,):
        problems.append(f"AGP {versions.get('agp')} is not 9.x")
    url = (project / "gradle" / "wrapper" / "gradle-wrapper.properties").read_text(encoding="utf-8")
    gradle = _version(re.search(r"gradle-([\d.]+)-(?:bin|all)\.zip", url).group(1))
    need = AGP_MIN_GRADLE.get(agp[:2], (99,))
    if gradle < need or gradle < FIRST_GRADLE_ON_JDK25:
        problems.append(f"Gradle {'.'.join(map(str, gradle))} is older than AGP {versions.get('agp')} needs "
                        f"({'.'.join(map(str, need))}) or does not run on JDK 25 (9.1+)")
    # code only: the comments say why the plugin is gone
    scripts = re.sub(r"//[^\n]*", "", "\n".join(p.read_text(encoding="utf-8") for p in project.rglob("*.gradle.kts")))
    catalog_code = re.sub(r"#[^\n]*", "", catalog_text)
    if "kotlin-android" in catalog_code or "org.jetbrains.kotlin.android" in catalog_code + scripts \
            or "libs.plugins.kotlin" in scripts:
        problems.append("the kotlin-android plugin is applied: AGP 9 has built-in Kotlin")
    if int(versions.get("targetSdk", 0)) < PLAY_TARGET_SDK or int(versions.get("compileSdk", 0)) < int(versions.get("targetSdk", 0)):
        problems.append(f"targetSdk {versions.get('targetSdk')} is below Google Play's {PLAY_TARGET_SDK}")
    header = catalog_text.split("[versions]")[0]
    problems += [f"catalog version {name!r} has no comment saying where it was checked"
                 for name in versions if not re.search(rf"^#\s+{re.escape(name)}\b", header, re.M)]
    return problems


def test_the_golden_toolchain_is_current():
    assert toolchain_problems(GOLDEN) == []


@pytest.mark.parametrize("file, old, new, fragment", [
    ("gradle/libs.versions.toml", 'agp = "9.2.0"', 'agp = "8.13.2"', "is not 9.x"),
    ("gradle/wrapper/gradle-wrapper.properties", "gradle-9.4.1-bin.zip", "gradle-8.13-bin.zip", "does not run on JDK 25"),
    ("gradle/wrapper/gradle-wrapper.properties", "gradle-9.4.1-bin.zip", "gradle-9.2.1-bin.zip", "older than AGP 9.2.0 needs"),
    ("build.gradle.kts", "alias(libs.plugins.android.application) apply false",
     "alias(libs.plugins.android.application) apply false\n    alias(libs.plugins.kotlin.android) apply false", "kotlin-android"),
    ("gradle/libs.versions.toml", 'targetSdk = "36"', 'targetSdk = "35"', "below Google Play's 36"),
    ("gradle/libs.versions.toml", 'minSdk = "24"', 'minSdk = "24"\njvmTarget = "17"', "'jvmTarget' has no comment"),
], ids=["agp-8", "gradle-8.13", "gradle-too-old-for-agp", "kotlin-android", "target-35", "uncommented"])
def test_an_old_toolchain_fails(tmp_path, file, old, new, fragment):
    import shutil

    project = tmp_path / "p"
    shutil.copytree(GOLDEN / "gradle", project / "gradle")
    shutil.copy(GOLDEN / "build.gradle.kts", project / "build.gradle.kts")
    (project / "app").mkdir()
    shutil.copy(GOLDEN / "app" / "build.gradle.kts", project / "app" / "build.gradle.kts")
    assert toolchain_problems(project) == []
    path = project / file
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    assert any(fragment in p for p in toolchain_problems(project)), toolchain_problems(project)
