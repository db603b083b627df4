"""Does the quantization doctor's time limit hold?  The doctor on the outlier digits model
(benchmarks/doctor.py; AI Edge Quantizer + LiteRT, real clock), each candidate slowed by a fixed
sleep so that the search is long, under several limits: prints the seconds the doctor ran, the
limit and their ratio side by side (the limit holds when the ratio stays ≤ 1.10).

    python benchmarks/doctor_time_limit.py --delay 1.5 --limits 2,3,4,6

Measured (2 cores, shared): limits 2 / 3 / 4 / 6 s ran 2.06 / 2.03 / 3.65 / 3.69 s (ratios 1.03, 0.68,
0.91, 0.62); before, a candidate was started whenever the limit had not yet passed (issue 26: 160 s
against 120 s).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--delay", type=float, default=0.5, help="seconds added to each candidate's build")
    parser.add_argument("--limits", default="2,3.5,5", help="comma-separated --doctor-seconds values")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(ROOT))
    import numpy as np

    import mobilepack
    from benchmarks.doctor import make_outlier_digits
    from mobilepack.conversion.doctor import DoctorSettings, run_doctor
    from mobilepack.conversion.tflite_quantization import LiteRTQuantizer
    from mobilepack.runtime.interpreter import SignatureSession

    with tempfile.TemporaryDirectory(prefix="mobilepack-doctor-limit-") as tmp:
        paths = make_outlier_digits(Path(tmp) / "data", epochs=20)
        res = mobilepack.convert(paths["model"], Path(tmp) / "f32", quantize="fp32")
        data = (Path(tmp) / "f32" / res.variants[0].path).read_bytes()
        z = dict(np.load(paths["validation"]))
    val = [{"pixels": z["x"][i:i + 1]} for i in range(100)]
    cal = [{"pixels": z["x"][i:i + 1]} for i in range(100, 200)]
    refs = [SignatureSession(data).run(b) for b in val]

    class Slow:
        def __init__(self):
            self.real = LiteRTQuantizer(data, cal, val)
            self.layers, self.method, self.name = self.real.layers, self.real.method, self.real.name

        def model(self, ops):
            time.sleep(args.delay)
            return self.real.model(ops)

    print(f"{'limit s':>8} {'ran s':>8} {'ratio':>6} {'status':<10} candidates")
    for limit in (float(x) for x in args.limits.split(",")):
        t0 = time.perf_counter()
        outcome = run_doctor(Slow, validation_batches=val, references=refs, labels=None,
                             settings=DoctorSettings(0.01, limit, "image_classification"))
        ran = time.perf_counter() - t0
        print(f"{limit:>8.2f} {ran:>8.2f} {ran / limit:>6.2f} {outcome.status:<10} {len(outcome.trail)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
