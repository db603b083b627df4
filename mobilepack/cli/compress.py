"""``mobilepack compress prune|cluster|qat|distill``: parse options, call ``mobilepack.compress``, print."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mobilepack.cli._console import err_console, handle_errors, out_console, print_json
from mobilepack.cli._options import JsonOpt, OutOpt, UnsafeLoadOpt, VerboseOpt
from mobilepack.cli._progress import progress_display

compress_app = typer.Typer(help="Compress a Keras model: prune, cluster, quantization-aware training, distill.",
                           no_args_is_help=True)

SrcArg = Annotated[Path, typer.Argument(help="The Keras model (.keras or .h5).", show_default=False)]
DataOpt = Annotated[Path, typer.Option("--data", help="Labelled training data: a folder per class of images, "
                                       "or .npz with x and y.", show_default=False)]
EpochsOpt = Annotated[Optional[int], typer.Option("--epochs", help="Training epochs (default per technique).")]
BatchOpt = Annotated[int, typer.Option("--batch-size", help="Training batch size.")]
LrOpt = Annotated[Optional[float], typer.Option("--learning-rate", help="Adam learning rate (default per technique).")]
EvalOpt = Annotated[Optional[Path], typer.Option(
    "--eval", help="Labelled evaluation data for the accuracy columns (default: hold out 20% of --data).")]
LabelsOpt = Annotated[Optional[Path], typer.Option(
    "--labels", help="Labels file mapping class-folder names to outputs (default: labels.txt beside the model).")]
StrategyOpt = Annotated[str, typer.Option(
    "--strategy", help="tf.distribute strategy: auto (multi-worker with TF_CONFIG, mirrored with >1 GPU, "
    "else default), default, mirrored, multi-worker.")]
WorkersOpt = Annotated[Optional[str], typer.Option(
    "--workers", help="Train on several machines: host:port of every worker, the chief (this one by default) first.",
    show_default=False)]
WorkerIndexOpt = Annotated[int, typer.Option(
    "--worker-index", envvar="MOBILEPACK_WORKER_INDEX",
    help="This machine's position in --workers (0: the chief).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for shuffling, initialization and the held-out split.")]
BenchOpt = Annotated[bool, typer.Option("--bench/--no-bench", help="Measure latency through the bench engine.")]


def _train(epochs, default_epochs, batch_size, learning_rate, eval_data, labels, strategy, seed, unsafe_load, bench,
           cluster=(None, 0)):
    from mobilepack.compress import TrainOptions, workers

    return TrainOptions(epochs=default_epochs if epochs is None else epochs, batch_size=batch_size,
                        learning_rate=learning_rate, eval_data=str(eval_data) if eval_data else None,
                        labels=str(labels) if labels else None, strategy=strategy, seed=seed,
                        workers=workers.parse(cluster[0]), worker_index=cluster[1], unsafe_load=unsafe_load,
                        bench=bench)


def _run(stage_name: str, src, data, out, make_options, json_out: bool, verbose: bool) -> None:
    with handle_errors():
        from mobilepack import compress
        from mobilepack.model.tfimport import set_verbose

        set_verbose(verbose)
        options = make_options(compress)
        options.check()
        with progress_display(err_console(), enabled=not json_out) as on_event:
            result = compress.STAGES[compress.Technique(stage_name)](str(src), str(data), out, options,
                                                                     progress=on_event)
        if json_out:
            print_json(result.to_dict())
            return
        _print_summary(result)


@compress_app.command("prune")
def prune_command(src: SrcArg, data: DataOpt, out: OutOpt,
                  target_sparsity: Annotated[float, typer.Option(
                      "--target-sparsity", help="Fraction of each prunable kernel set to zero.")] = 0.5,
                  epochs: EpochsOpt = None, batch_size: BatchOpt = 32, learning_rate: LrOpt = None,
                  eval_data: EvalOpt = None, labels: LabelsOpt = None, strategy: StrategyOpt = "auto",
                  workers: WorkersOpt = None, worker_index: WorkerIndexOpt = 0, seed: SeedOpt = 0, bench: BenchOpt = True, unsafe_load: UnsafeLoadOpt = False,
                  json_out: JsonOpt = False, verbose: VerboseOpt = False) -> None:
    """Magnitude pruning (polynomial decay), fine-tuned on --data; writes the pruned .keras and .tflite."""
    _run("prune", src, data, out, lambda c: c.PruneOptions(target_sparsity=target_sparsity, train=_train(
        epochs, c.PruneOptions().train.epochs, batch_size, learning_rate, eval_data, labels, strategy, seed,
        unsafe_load, bench, (workers, worker_index))), json_out, verbose)


@compress_app.command("cluster")
def cluster_command(src: SrcArg, data: DataOpt, out: OutOpt,
                    clusters: Annotated[int, typer.Option("--clusters", help="Distinct values per kernel.")] = 16,
                    epochs: EpochsOpt = None, batch_size: BatchOpt = 32, learning_rate: LrOpt = None,
                    eval_data: EvalOpt = None, labels: LabelsOpt = None, strategy: StrategyOpt = "auto",
                    workers: WorkersOpt = None, worker_index: WorkerIndexOpt = 0, seed: SeedOpt = 0, bench: BenchOpt = True, unsafe_load: UnsafeLoadOpt = False,
                    json_out: JsonOpt = False, verbose: VerboseOpt = False) -> None:
    """Weight clustering, fine-tuned on --data; writes the clustered .keras and .tflite."""
    _run("cluster", src, data, out, lambda c: c.ClusterOptions(clusters=clusters, train=_train(
        epochs, c.ClusterOptions().train.epochs, batch_size, learning_rate, eval_data, labels, strategy, seed,
        unsafe_load, bench, (workers, worker_index))), json_out, verbose)


@compress_app.command("qat")
def qat_command(src: SrcArg, data: DataOpt, out: OutOpt,
                epochs: EpochsOpt = None, batch_size: BatchOpt = 32, learning_rate: LrOpt = None,
                eval_data: EvalOpt = None, labels: LabelsOpt = None, strategy: StrategyOpt = "auto",
                workers: WorkersOpt = None, worker_index: WorkerIndexOpt = 0, seed: SeedOpt = 0, bench: BenchOpt = True, unsafe_load: UnsafeLoadOpt = False,
                json_out: JsonOpt = False, verbose: VerboseOpt = False) -> None:
    """Quantization-aware training on --data; writes an int8 .tflite and compares it with post-training int8."""
    _run("qat", src, data, out, lambda c: c.QatOptions(train=_train(
        epochs, c.QatOptions().train.epochs, batch_size, learning_rate, eval_data, labels, strategy, seed,
        unsafe_load, bench, (workers, worker_index))), json_out, verbose)


@compress_app.command("distill")
def distill_command(data: DataOpt, out: OutOpt,
                    teacher: Annotated[Path, typer.Option("--teacher", help="The teacher Keras model.",
                                                          show_default=False)],
                    student: Annotated[Optional[Path], typer.Option(
                        "--student", help="The student Keras model (.keras), trained from its current weights.")] = None,
                    student_preset: Annotated[Optional[str], typer.Option(
                        "--student-preset", help="A built-in student: small-cnn, mobilenetv2-0.35, "
                        "mobilenetv3-small-0.5.")] = None,
                    temperature: Annotated[float, typer.Option("--temperature", help="Softmax temperature.")] = 4.0,
                    alpha: Annotated[float, typer.Option(
                        "--alpha", help="Weight of the hard-label loss (1 - alpha weighs the soft targets).")] = 0.1,
                    epochs: EpochsOpt = None, batch_size: BatchOpt = 32, learning_rate: LrOpt = None,
                    eval_data: EvalOpt = None, labels: LabelsOpt = None, strategy: StrategyOpt = "auto",
                    workers: WorkersOpt = None, worker_index: WorkerIndexOpt = 0, seed: SeedOpt = 0, bench: BenchOpt = True, unsafe_load: UnsafeLoadOpt = False,
                    json_out: JsonOpt = False, verbose: VerboseOpt = False) -> None:
    """Knowledge distillation: train a smaller student on the teacher's soft targets plus the labels."""
    _run("distill", teacher, data, out, lambda c: c.DistillOptions(
        student=str(student) if student else None, student_preset=student_preset, temperature=temperature,
        alpha=alpha, train=_train(epochs, c.DistillOptions(student_preset="small-cnn").train.epochs, batch_size,
                                  learning_rate, eval_data, labels, strategy, seed, unsafe_load, bench,
                                  (workers, worker_index))),
         json_out, verbose)


def _print_summary(result) -> None:
    from rich.table import Table

    console = out_console()
    table = Table(title=f"compress {result.technique} → {result.out_dir}", title_justify="left")
    for col in ("model", "mode", "params", ".tflite", "gzip", "accuracy", "latency p50"):
        table.add_column(col, justify="left" if col in ("model", "mode") else "right")
    for r in result.rows:
        table.add_row(r.role, r.mode, f"{r.params:,}" if r.params is not None else "–", f"{r.bytes / 1024:,.1f} KiB",
                      f"{r.gzip_bytes / 1024:,.1f} KiB", f"{r.accuracy:.2%}",
                      f"{r.latency_ms:.3f} ms" if r.latency_ms is not None else "–")
    console.print(table)
    for name, info in result.layers.items():
        if "sparsity" in info:
            console.print(f"  {name}: sparsity {info['sparsity']:.1%} ({info['zeros']}/{info['weights']})")
        elif "unique_values" in info:
            console.print(f"  {name}: {info['unique_values']} distinct values in {info['weights']} weights")
    console.print(f"wrote {len(result.files)} files to [bold]{result.out_dir}[/] (details: compress.json, compress.md)")
