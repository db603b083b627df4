"""Options of each compression technique (frozen, validated up front) and the
``[compress]`` section of ``mobilepack.toml`` that chains them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

from mobilepack.compress import workers
from mobilepack.errors import UsageError
from mobilepack.option import Option


class Technique(str, Enum):
    PRUNE = "prune"
    CLUSTER = "cluster"
    QAT = "qat"
    DISTILL = "distill"


@dataclass(frozen=True)
class TrainOptions:
    """Fine-tuning settings shared by every technique."""

    epochs: int = 3
    batch_size: int = 32
    learning_rate: float | None = None   # None: the technique's default
    eval_data: str | None = None         # labelled held-out data; None: hold out ``holdout`` of --data
    holdout: float = 0.2
    labels: str | None = None            # labels file mapping class-folder names to output indices
    strategy: str = "auto"               # see mobilepack.compress.strategy
    workers: tuple[str, ...] = ()        # host:port of every training worker, the chief first
    worker_index: int = 0                # this process's position in ``workers``
    seed: int = 0
    unsafe_load: bool = False
    bench: bool = True                   # measure latency through the bench engine

    def check(self) -> None:
        if self.epochs < 1:
            raise UsageError(f"--epochs must be ≥ 1 (got {self.epochs})", "e.g. --epochs 3")
        if self.batch_size < 1:
            raise UsageError(f"--batch-size must be ≥ 1 (got {self.batch_size})", "e.g. --batch-size 32")
        if self.learning_rate is not None and not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise UsageError(f"--learning-rate must be a positive number (got {self.learning_rate})",
                             "e.g. --learning-rate 0.0005")
        if not 0.0 < self.holdout < 1.0:
            raise UsageError(f"the held-out fraction must be in (0, 1) (got {self.holdout})", "e.g. 0.2")
        from mobilepack.compress.strategy import names

        if self.strategy not in names():
            raise UsageError(f"unknown --strategy {self.strategy!r}", f"valid: {', '.join(names())}")
        workers.check(self.workers, self.worker_index, self.strategy)


@dataclass(frozen=True)
class PruneOptions:
    target_sparsity: float = 0.5
    train: TrainOptions = field(default_factory=lambda: TrainOptions(epochs=6))

    def check(self) -> None:
        if not 0.0 < self.target_sparsity < 1.0:
            raise UsageError(f"--target-sparsity must be in (0, 1) (got {self.target_sparsity})",
                             "e.g. --target-sparsity 0.5 zeroes half of each prunable kernel")
        self.train.check()


@dataclass(frozen=True)
class ClusterOptions:
    clusters: int = 16
    train: TrainOptions = field(default_factory=TrainOptions)

    def check(self) -> None:
        if not 2 <= self.clusters <= 256:
            raise UsageError(f"--clusters must be between 2 and 256 (got {self.clusters})",
                             "e.g. --clusters 16 (4-bit indices)")
        self.train.check()


@dataclass(frozen=True)
class QatOptions:
    train: TrainOptions = field(default_factory=TrainOptions)

    def check(self) -> None:
        self.train.check()


@dataclass(frozen=True)
class DistillOptions:
    student: str | None = None           # a Keras model file
    student_preset: str | None = None    # a name from mobilepack.compress.presets
    temperature: float = 4.0
    alpha: float = 0.1                   # weight of the hard-label loss; 1 - alpha weighs the soft targets
    train: TrainOptions = field(default_factory=lambda: TrainOptions(epochs=30))

    def check(self) -> None:
        from mobilepack.compress.presets import names

        if (self.student is None) == (self.student_preset is None):
            raise UsageError("give exactly one of --student and --student-preset",
                             f"presets: {', '.join(names())}")
        if self.student_preset is not None and self.student_preset not in names():
            raise UsageError(f"unknown --student-preset {self.student_preset!r}", f"valid: {', '.join(names())}")
        if not (self.temperature > 0 and math.isfinite(self.temperature)):
            raise UsageError(f"--temperature must be a positive number (got {self.temperature})", "e.g. --temperature 4")
        if not 0.0 <= self.alpha <= 1.0:
            raise UsageError(f"--alpha must be in [0, 1] (got {self.alpha})",
                             "alpha weighs the hard-label loss, 1 - alpha the teacher's soft targets")
        self.train.check()


# -- the [compress] section of mobilepack.toml ------------------------------------------------

def _presets() -> tuple[str, ...]:
    from mobilepack.compress.presets import names

    return names()


def _strategies() -> tuple[str, ...]:
    from mobilepack.compress.strategy import names

    return names()


def config_schema() -> dict[str, dict[str, Option]]:
    """The ``[compress]`` section, in the form of ``mobilepack.config.SCHEMA`` entries
    (``config`` builds its schema with it; this module never imports ``config``)."""
    return {"compress": {
        "stages": Option("list[str]", [], "compression stages run in order before conversion",
                         tuple(t.value for t in Technique), example=["distill", "prune"]),
        "data": Option("path", None, "labelled training data: a folder per class, or .npz with x and y",
                       example="data/train"),
        "epochs": Option("int", 3, "fine-tuning epochs per stage (distill: training epochs)"),
        "batch_size": Option("int", 32, "training batch size"),
        "learning_rate": Option("float", None, "optimizer learning rate (default per technique)", example=0.0005),
        "strategy": Option("str", "auto", "tf.distribute strategy", _strategies),
        "workers": Option("list[str]", [], "host:port of every training worker, the chief first "
                          "(index from MOBILEPACK_WORKER_INDEX)", example=["host1:12345", "host2:12345"]),
        "target_sparsity": Option("float", 0.5, "prune: fraction of each prunable kernel set to zero"),
        "clusters": Option("int", 16, "cluster: distinct values per kernel"),
        "student": Option("path", None, "distill: the student model (.keras)", example="student.keras"),
        "student_preset": Option("str", None, "distill: a built-in student", _presets, example="small-cnn"),
        "temperature": Option("float", 4.0, "distill: softmax temperature of the soft targets"),
        "alpha": Option("float", 0.1, "distill: weight of the hard-label loss"),
    }}


@dataclass(frozen=True)
class CompressConfig:
    """The resolved ``[compress]`` section: which stages run, in order, with which options."""

    stages: tuple[Technique, ...]
    data: str | None
    options: dict  # Technique -> options dataclass

    @classmethod
    def from_section(cls, section: dict, *, eval_data: str | None = None, labels: str | None = None) -> CompressConfig:
        schema = config_schema()["compress"]
        values = {k: opt.default for k, opt in schema.items()}
        values.update({k: v for k, v in section.items() if v is not None})
        try:
            stages = tuple(Technique(s) for s in values["stages"])
        except ValueError as exc:
            raise UsageError(f"[compress] stages: {exc}", f"valid: {', '.join(t.value for t in Technique)}") from None
        if len(set(stages)) != len(stages):
            raise UsageError("[compress] stages lists a stage twice", "name each stage once")
        cluster = workers.parse(values["workers"] or None)
        if cluster and not stages:
            raise UsageError("--workers ([compress] workers) trains the compression stages, but none is set",
                             'set [compress] stages, e.g. stages = ["qat"], or drop --workers')
        if stages and not values["data"]:
            raise UsageError("[compress] stages need labelled training data", "set [compress] data = \"data/train\"")
        train = TrainOptions(epochs=values["epochs"], batch_size=values["batch_size"],
                             learning_rate=values["learning_rate"], strategy=values["strategy"],
                             workers=cluster, worker_index=workers.index_from_env() if cluster else 0,
                             eval_data=eval_data, labels=labels)
        built = {
            Technique.PRUNE: PruneOptions(target_sparsity=values["target_sparsity"], train=train),
            Technique.CLUSTER: ClusterOptions(clusters=values["clusters"], train=train),
            Technique.QAT: QatOptions(train=train),
            Technique.DISTILL: DistillOptions(student=values["student"], student_preset=values["student_preset"],
                                              temperature=values["temperature"], alpha=values["alpha"], train=train),
        }
        for t in stages:
            built[t].check()
        return cls(stages=stages, data=values["data"], options={t: built[t] for t in stages})
