#!/usr/bin/env bash
# Fetches the jars the Android template checks compile against (tests/test_android*.py):
#   * org.robolectric:android-all  - the real Android framework classes (API 36)
#   * org.tensorflow:tensorflow-lite{,-api,-gpu} 2.16.1 - the org.tensorflow.lite Java API that
#     LiteRT 1.x (com.google.ai.edge.litert, only on Google's Maven) keeps - and
#     tensorflow-lite-gpu-api 2.14.0 (GpuDelegateFactory, the superclass of GpuDelegate.Options;
#     Maven Central serves no 2.15/2.16 of it).  classes.jar is taken out of each AAR.
# The JVM execution tests (tests/test_android_jvm.py) run the compiled app on a JDK 21+ (android-all 16
# is Java 21 bytecode): MOBILEPACK_JAVA, JAVA_HOME or /usr/lib/jvm/*; this script fetches no JDK.
# LiteRT 1.4.x (com.google.ai.edge.litert) is on Google's Maven only, so the checks use the
# org.tensorflow.lite 2.16.1 API it continues.
# Maven Central only (Google's Maven is not reachable here).  Cached in .cache/android-jars;
# a finished download is never repeated.  Without mvn it does nothing (the tests then skip,
# or fail under CI=true).
set -u
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DEST="${MOBILEPACK_ANDROID_JARS:-$ROOT/.cache/android-jars}"
ANDROID_ALL="org.robolectric:android-all:16-robolectric-13921718:jar"
TFLITE_VERSION="2.16.1"
ARTIFACTS=(
  "$ANDROID_ALL"
  "org.tensorflow:tensorflow-lite:$TFLITE_VERSION:aar"
  "org.tensorflow:tensorflow-lite-api:$TFLITE_VERSION:aar"
  "org.tensorflow:tensorflow-lite-gpu:$TFLITE_VERSION:aar"
  "org.tensorflow:tensorflow-lite-gpu-api:2.14.0:aar"
)
STAMP="$DEST/.complete-$(printf '%s\n' "${ARTIFACTS[@]}" | sha256sum | cut -c1-16)"
[ -f "$STAMP" ] && exit 0
if ! command -v mvn >/dev/null; then
  echo "test setup: mvn not found; Android compile checks will skip" >&2
  exit 0
fi
mkdir -p "$DEST"
for coord in "${ARTIFACTS[@]}"; do
  echo "test setup: mvn dependency:copy $coord"
  if ! mvn -q -B -ntp -Dstyle.color=never org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
        -Dartifact="$coord" -DoutputDirectory="$DEST" -Dmdep.overWriteReleases=false >/dev/null; then
    echo "test setup: could not fetch $coord; Android compile checks will skip" >&2
    exit 0
  fi
done
for aar in "$DEST"/*.aar; do
  jar="${aar%.aar}.classes.jar"
  [ -f "$jar" ] && continue
  python3 -c 'import sys, zipfile; open(sys.argv[2], "wb").write(zipfile.ZipFile(sys.argv[1]).read("classes.jar"))' \
      "$aar" "$jar.tmp" && mv "$jar.tmp" "$jar" || { rm -f "$jar.tmp"; echo "test setup: no classes.jar in $aar" >&2; exit 0; }
done
touch "$STAMP"
