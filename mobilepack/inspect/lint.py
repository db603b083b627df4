"""The deployability lint: a registry of checks, each returning findings with a
severity, an explanation and a fix.  Checks read the verified flatbuffer, the metadata
and the results of the child-process runtime checks; they run no native code."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mobilepack.inspect.commands import input_shape_flags, integer_io_fix, metadata_command
from mobilepack.inspect.findings import Finding
from mobilepack.metadata.reader import ModelMetadata
from mobilepack.model.flatbuffer import FbModel, FbTensor
from mobilepack.tasks import get as get_task

INT_TYPES = ("INT8", "UINT8", "INT16", "INT4")
FLOAT_TYPES = ("FLOAT32", "FLOAT16")
BOUNDARY_OPS = ("QUANTIZE", "DEQUANTIZE", "READ_VARIABLE", "ASSIGN_VARIABLE", "VAR_HANDLE", "CALL_ONCE")
# custom ops the stock LiteRT op resolver registers (used only when the load check did not run)
STOCK_CUSTOM_OPS = ("TFLite_Detection_PostProcess", "Mfcc", "AudioSpectrogram")


@dataclass(frozen=True)
class LintContext:
    fb: FbModel
    data: bytes
    metadata: ModelMetadata | None
    model: dict[str, Any]          # describe(fb)
    load: Any                      # LoadCheck | None
    gpu: dict[str, Any] | None

    @property
    def inputs(self) -> list[FbTensor]:
        sg = self.fb.subgraphs[0]
        return [sg.tensors[i] for i in sg.inputs]

    @property
    def outputs(self) -> list[FbTensor]:
        sg = self.fb.subgraphs[0]
        return [sg.tensors[i] for i in sg.outputs]


Check = Callable[[LintContext], list[Finding]]
CHECKS: dict[str, Check] = {}


def check(name: str):
    def register(fn: Check) -> Check:
        CHECKS[name] = fn
        return fn
    return register


def run(ctx: LintContext) -> list[Finding]:
    order = {"error": 0, "warning": 1, "info": 2}
    found = [f for fn in CHECKS.values() for f in fn(ctx)]
    return sorted(found, key=lambda f: order[f.severity])


def _names(tensors) -> str:
    return ", ".join(f"{t.name}{list(t.shape_signature if t.shape_signature is not None else t.shape)}"
                     for t in tensors)


@check("loads")
def _loads(ctx: LintContext) -> list[Finding]:
    load = ctx.load
    if load is None or load.status == "ok":
        return []
    if load.status == "needs_input_shape":
        dyn = ", ".join(f"{n}{list(sig)}" for n, sig in load.dynamic_inputs)
        example = " ".join(f"--input-shape {n}=" + ",".join("1" if i == 0 else "N" for i, _ in enumerate(sig))
                           for n, sig in load.dynamic_inputs)
        return [Finding("needs_input_shape", "warning", "the model needs an input shape before it can run",
                        f"it loads, but allocating its tensors at the placeholder shape of the dynamic input(s) "
                        f"{dyn} failed (LiteRT said: {load.message}); it runs once those inputs are resized "
                        "(the app must call resizeInput/resizeInputTensor before allocating)",
                        f"inspect/bench it with {example} (N set); "
                        + _fix_shapes_hint(ctx))]
    if load.unresolved_ops or load.flex_unsupported:
        return []  # reported by the custom/flex checks with the op names
    return [Finding("runtime_load_failed", "error", "stock LiteRT cannot load this model",
                    f"LiteRT said: {load.message}",
                    "check the ops below; re-convert the model with builtin ops only")]


@check("flex")
def _flex(ctx: LintContext) -> list[Finding]:
    flex = ctx.model["ops"]["flex"]
    if not flex:
        return []
    return [Finding("flex_ops", "error", f"{len(flex)} TensorFlow (Flex / SELECT_TF_OPS) op(s): {', '.join(flex)}",
                    "stock LiteRT cannot run Flex ops; the app needs the Select TF ops runtime "
                    "(org.tensorflow:tensorflow-lite-select-tf-ops / TensorFlowLiteSelectTfOps), which adds "
                    "several MB per ABI to the app, and no GPU delegate runs these ops",
                    "rewrite the model with TFLite builtin ops (or convert without SELECT_TF_OPS); if they are "
                    "unavoidable, ship the select-tf-ops runtime and build it for only these ops")]


@check("custom")
def _custom(ctx: LintContext) -> list[Finding]:
    custom = ctx.model["ops"]["custom"]
    if not custom:
        return []
    unchecked: list[str] = []
    if ctx.load is not None:
        missing = [op for op in custom if op in ctx.load.unresolved_ops]
        resolved = [op for op in custom if op not in missing]
        if ctx.load.status != "ok":
            # LiteRT stops at the first op it cannot resolve: the others were never tried
            unchecked = [op for op in resolved if op not in STOCK_CUSTOM_OPS] if ctx.load.unresolved_ops else []
            resolved = [op for op in resolved if op in STOCK_CUSTOM_OPS] if ctx.load.unresolved_ops else []
    else:
        missing = [op for op in custom if op not in STOCK_CUSTOM_OPS]
        resolved = [op for op in custom if op in STOCK_CUSTOM_OPS]
    out = []
    if missing:
        how = "stock LiteRT refused to load it" if ctx.load is not None else "it is not one stock LiteRT registers"
        out.append(Finding("unresolved_custom_ops", "error", f"custom op(s) stock LiteRT cannot resolve: "
                           f"{', '.join(missing)}",
                           f"{how}; the app must register a kernel for each (C++ OpResolver.AddCustom), "
                           "and the GPU delegate leaves custom ops on the CPU",
                           "replace the custom ops with builtin ops before conversion, or ship their kernels "
                           "with the app"))
    if unchecked:
        out.append(Finding("unchecked_custom_ops", "warning", f"custom op(s) not checked: {', '.join(unchecked)}",
                           "LiteRT stopped loading at the first custom op it could not resolve, so whether it "
                           "resolves these is unknown; they are not stock LiteRT ops",
                           "ship kernels for them too, or replace them with builtin ops"))
    if resolved:
        out.append(Finding("custom_ops", "info", f"custom op(s) stock LiteRT resolves: {', '.join(resolved)}",
                           "these run on the CPU; GPU delegates usually leave them there",
                           "nothing to do unless the GPU check below reports them on the CPU"))
    return out


def _dynamic_inputs(ctx: LintContext) -> list[FbTensor]:
    return [t for t in ctx.inputs if t.shape_signature is not None and any(d < 0 for d in t.shape_signature)]


@check("dynamic_shapes")
def _dynamic(ctx: LintContext) -> list[Finding]:
    dyn = [t for t in ctx.inputs + ctx.outputs
           if t.shape_signature is not None and any(d < 0 for d in t.shape_signature)]
    if not dyn:
        return []
    return [Finding("dynamic_shapes", "warning", f"dynamic dimensions in {_names(dyn)}",
                    "GPU delegates run one fixed shape: a dynamic (-1) dimension is rejected or compiled at its "
                    "placeholder size, and resizing at run time rebuilds or drops the delegate; the Core ML/Metal "
                    "delegate rejects dynamic shapes, so the model falls back to the CPU",
                    _fix_shapes_hint(ctx))]


def _fix_shapes_hint(ctx: LintContext) -> str:
    """What fixes dynamic inputs of this .tflite: convert (or build) it with ``--input-shape``."""
    inputs = _dynamic_inputs(ctx)
    if not inputs:
        return "only outputs are dynamic: they follow the inputs; fixed inputs may still give dynamic outputs"
    return (f"fix them in this .tflite: `mobilepack convert MODEL.tflite -o DIR {input_shape_flags(ctx.fb, inputs)}` "
            "(N set; `build` takes the same option) writes it with those shapes")


def _looks_nchw(t: FbTensor) -> bool:
    s = t.shape
    return len(s) == 4 and s[1] in (1, 3, 4) and s[2] > 4 and s[3] > 4 and s[3] not in (1, 3, 4)


@check("layout")
def _layout(ctx: LintContext) -> list[Finding]:
    nchw = [t for t in ctx.inputs if _looks_nchw(t)]
    if not nchw:
        return []
    return [Finding("nchw_input", "warning", f"image input looks channels-first (NCHW): {_names(nchw)}",
                    "camera frames, the TFLite Support library and the GPU delegates use NHWC; an NCHW input "
                    "forces a transpose in the app or extra TRANSPOSE ops on the CPU",
                    "export the model channels-last (NHWC), e.g. move the transpose into the source model")]


def _compute_types(ctx: LintContext) -> tuple[set[str], list[str]]:
    """Output types of compute ops (not QUANTIZE/DEQUANTIZE), and the float compute op names."""
    types, float_ops = set(), []
    for sg in ctx.fb.subgraphs:
        for op in sg.operators:
            name = ctx.fb.opcodes[op.opcode_index].name
            if name in BOUNDARY_OPS:
                continue
            outs = {sg.tensors[i].type for i in op.outputs if i >= 0}
            types |= outs
            if outs & set(FLOAT_TYPES):
                float_ops.append(name)
    return types, sorted(set(float_ops))


@check("io_types")
def _io_types(ctx: LintContext) -> list[Finding]:
    io = ctx.inputs + ctx.outputs
    io_float = [t for t in io if t.type in FLOAT_TYPES]
    io_int = [t for t in io if t.type in INT_TYPES]
    types, float_ops = _compute_types(ctx)
    out = []
    if io_float and types & set(INT_TYPES) and not io_int:
        out.append(Finding("integer_internals_float_io", "warning",
                           "integer-quantized model with float inputs/outputs",
                           "every run quantizes the float input and dequantizes the output on the CPU, and "
                           "integer-only accelerators (NNAPI/Edge TPU/Hexagon DSP) need integer I/O",
                           integer_io_fix(ctx.inputs)))
    if io_int and float_ops:
        out.append(Finding("float_internals_integer_io", "warning",
                           f"integer inputs/outputs but float compute inside: {', '.join(float_ops[:8])}",
                           "the integer interface hides float ops, so integer-only accelerators reject the model "
                           "and quantized speedups are partial",
                           "find integer kernels for these ops or convert without float fallback"))
    return out


def _image_inputs(ctx: LintContext) -> list[FbTensor]:
    return [t for t in ctx.inputs if len(t.shape) == 4 and t.shape[-1] in (1, 3, 4) and t.shape[1] > 4]


@check("metadata")
def _metadata(ctx: LintContext) -> list[Finding]:
    md = ctx.metadata
    if md is None:
        return [Finding("missing_metadata", "warning", "no TFLite metadata",
                        "without metadata the app cannot read labels, normalization or the task from the model, "
                        "and Android Studio ML Binding / the TFLite Task library cannot use it",
                        f"attach it: `{metadata_command(ctx.fb, ctx.inputs, ctx.outputs)}`")]
    out = []
    images = [t for t in _image_inputs(ctx) if t.type in FLOAT_TYPES]
    if images and md.normalization is None:
        out.append(Finding("missing_normalization", "warning", f"no input normalization in the metadata for "
                           f"{_names(images)}",
                           "the app cannot know how to scale pixels; a wrong guess silently ruins accuracy",
                           "re-attach metadata with "
                           f"`{metadata_command(ctx.fb, ctx.inputs, ctx.outputs, existing=md, only=('normalization',))}`"))
    return out


@check("labels")
def _labels(ctx: LintContext) -> list[Finding]:
    md = ctx.metadata
    if md is None:
        return []
    f = md.label_file()
    if f is None:
        return []
    labels = md.labels()
    if labels is None:
        return [Finding("labels_missing_file", "error", f"metadata names label file {f.name!r} but it is not packed",
                        "apps reading labels from the model will fail",
                        "re-attach metadata with "
                        f"`{metadata_command(ctx.fb, ctx.inputs, ctx.outputs, existing=md, only=('labels',))}`")]
    if get_task(md.task()).labels == "any":   # detection: category labels, not one per element of an output
        return []
    names = [t.name for t in md.outputs]
    owner = f.owner.split(":", 1)[1]
    index = names.index(owner) if owner in names else 0
    outputs = ctx.outputs
    if index >= len(outputs) or not outputs[index].shape:
        return []
    classes = outputs[index].shape[-1]
    if classes != len(labels):
        return [Finding("labels_mismatch", "error",
                        f"{len(labels)} labels but output {outputs[index].name!r} has {classes} classes",
                        "apps would show the wrong name for some (or every) class",
                        f"re-attach metadata with a labels file of exactly {classes} lines")]
    return []


@check("stateful")
def _stateful(ctx: LintContext) -> list[Finding]:
    ops = ctx.model["ops"]
    out = []
    if ops["resource_variables"]:
        out.append(Finding("resource_variables", "info",
                           f"stateful model: resource-variable ops {', '.join(ops['resource_variables'])}",
                           "state persists between runs of one interpreter; GPU delegates leave these ops on the CPU",
                           "reset state by creating a new interpreter (or calling the reset signature) between "
                           "independent inputs"))
    if len(ctx.fb.subgraphs) > 1 or ops["control_flow"]:
        out.append(Finding("multiple_subgraphs", "info",
                           f"{len(ctx.fb.subgraphs)} subgraphs" + (f" with control flow ({', '.join(ops['control_flow'])})"
                                                                  if ops["control_flow"] else ""),
                           "control-flow ops run on the CPU; delegates accelerate only the parts between them",
                           "nothing to do unless the GPU check reports most of the model on the CPU"))
    return out


@check("gpu")
def _gpu(ctx: LintContext) -> list[Finding]:
    g = ctx.gpu
    if g is None or g.get("status") == "skipped":
        return []
    status = g.get("status")
    where = f" on {g['adapter']}" if g.get("adapter") else ""
    soft = " (software Vulkan: functional check only, latency not representative)" if g.get("software") else ""
    cpu_ops = ", ".join(g.get("cpu_ops") or [])
    if status == "full":
        return [Finding("gpu_delegation", "info", f"LiteRT's GPU accelerator takes the whole model{where}{soft}",
                        "every op compiled for the GPU", "nothing to do")]
    if status == "partial":
        return [Finding("gpu_delegation", "warning", f"only part of the model runs on the GPU{where}{soft}"
                        + (f"; on the CPU: {cpu_ops}" if cpu_ops else ""),
                        "each CPU fallback splits the graph and copies tensors between GPU and CPU; "
                        f"LiteRT said: {g.get('message') or 'not fully accelerated'}",
                        "replace the ops left on the CPU with GPU-supported ones, or use the CPU (XNNPACK)")]
    if status in ("rejected", "crashed", "timeout"):
        return [Finding("gpu_delegation", "warning", f"LiteRT's GPU accelerator {status} the model{where}"
                        .replace("crashed the", "crashed on the").replace("timeout the model", "timed out on the model"),
                        f"LiteRT said: {g.get('message') or status}"
                        + (f"; ops left on the CPU: {cpu_ops}" if cpu_ops else ""),
                        "the model will run on the CPU; remove dynamic shapes and unsupported ops for the GPU")]
    return [Finding("gpu_delegation", "info", "GPU delegation was not checked",
                    g.get("message") or "no GPU or software Vulkan driver found",
                    "install Debian's chromium (SwiftShader) or run on a machine with a Vulkan driver")]
