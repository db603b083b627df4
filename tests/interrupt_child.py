"""The child of tests/test_interrupts.py: ``python -m tests.interrupt_child STAGE KIND OUT CACHE``.

Runs ``mobilepack.convert`` (KIND ``convert``) or ``mobilepack.build`` on the bundled digits model
with a progress callback that sends SIGINT to its own process the first time STAGE reports, and
prints ``{"interrupted", "fired"}`` as JSON: whether KeyboardInterrupt surfaced, and the message
of the event the signal was sent at.  Forked from the CLI zygote (tests/cli_zygote.py) or run by a
fresh interpreter."""

import json
import os
import signal
import sys

import mobilepack

stage, kind, out, cache = sys.argv[1:5]
fired = []


def progress(event):
    if event.stage == stage and not fired:
        fired.append(event.message)
        os.kill(os.getpid(), signal.SIGINT)


D = os.environ["DIGITS"]
try:
    if kind == "convert":
        mobilepack.convert(f"{D}/digits.keras", out, quantize="fp32,int8", calibration=f"{D}/calibration",
                           calibration_samples=20, progress=progress)
    else:
        mobilepack.build(f"{D}/digits.keras", out=out, target="all", cache_dir=cache, quantize=["fp32", "int8"],
                         calibration=f"{D}/calibration", calibration_samples=20, eval_data=f"{D}/eval",
                         labels=f"{D}/labels.txt", runs=3, warmup=0, target_ci=0, threads=[1], progress=progress)
    print(json.dumps({"interrupted": False, "fired": fired}))
except KeyboardInterrupt:
    print(json.dumps({"interrupted": True, "fired": fired}))
