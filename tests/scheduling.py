"""How ``make test`` spreads test files over its xdist workers.

``--dist loadfile`` keeps a file's tests on one worker, so a module's fixtures are built once.  Two
things it cannot see are added here:

* **Groups of files that share a session's work.**  test_android_checks.py and test_android_jvm.py use
  the same rendered projects, compiled in one kotlinc run (``render_all``: about 160 s with the YOLO
  training below, beside a busy core).  On two workers each file built them for itself; grouped, they are
  built once.  test_yolo.py joins them: the
  YOLO project among them is the detector tests/yolo_models.py trains (about a minute), once per process.
* **The longest files first.**  xdist orders files by their number of tests; a file of few but long
  tests that starts last leaves the other worker idle at the end.  ``WEIGHTS`` holds seconds measured
  with ``--durations=0`` (a hint for the order only, never an assertion); files not named keep xdist's
  order after them.
"""

from __future__ import annotations

from collections import OrderedDict

from xdist.scheduler import LoadFileScheduling

ANDROID = "android apps (tests/test_android_checks.py, tests/test_android_jvm.py, tests/test_yolo.py)"
GROUPS = {
    "tests/test_android_checks.py": ANDROID,
    "tests/test_android_jvm.py": ANDROID,
    "tests/test_yolo.py": ANDROID,
}

WEIGHTS = {
    ANDROID: 400,
}


class GroupedFileScheduling(LoadFileScheduling):
    """``--dist loadfile`` with :data:`GROUPS` as one unit each and the heaviest units first."""

    def __init__(self, config, log=None) -> None:
        super().__init__(config, log)
        self._ordered = False

    def _split_scope(self, nodeid: str) -> str:
        path = super()._split_scope(nodeid)
        return GROUPS.get(path, path)

    def _assign_work_unit(self, node) -> None:
        if not self._ordered:
            self._ordered = True
            order = sorted(self.workqueue, key=lambda scope: -WEIGHTS.get(scope, 0))
            self.workqueue = OrderedDict((scope, self.workqueue[scope]) for scope in order)
        super()._assign_work_unit(node)
