"""``--target server`` and ``mobilepack serve``, end to end on the bundled sample.

One build of examples/digits with ``--target server`` (a small load grid) and one ``mobilepack serve``
process (one Ray instance, shared by every request test) per module.  The TF Serving files are parsed
with TF Serving's own protobuf definitions; the Serve config with Ray's own schema; predictions are
compared with LiteRT in this process; bad requests are sent to the real server on loopback."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import DIGITS, ROOT, assert_clean_error, require, run_cli

try:
    import ray.serve  # noqa: F401
    import tensorflow_serving  # noqa: F401
    HAVE_EXTRA = True
except ImportError:
    HAVE_EXTRA = False

BUILD_ARGS = ("--quantize", "fp32", "--calibration", DIGITS / "calibration", "--eval-data", DIGITS / "eval",
              "--labels", DIGITS / "labels.txt", "--delegates", "xnnpack", "--threads", "1", "--runs", "3",
              "--server-batch", "4", "--server-concurrency", "2", "--server-requests", "40",
              "--server-seconds", "1")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    require(HAVE_EXTRA, "the optional extra mobilepack[server] is not installed")
    out = tmp_path_factory.mktemp("server") / "out"
    result = run_cli("build", DIGITS / "digits.keras", "--target", "server", "-o", out, *BUILD_ARGS, "--json",
                     timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return out, json.loads(result.stdout)


@pytest.fixture(scope="module")
def served(built):
    out, _ = built
    from mobilepack.server.running import free_port

    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "mobilepack", "serve", str(out / "server"), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    line, deadline = "", time.time() + 240
    while time.time() < deadline and proc.poll() is None and "serving" not in line:
        if sel.select(timeout=1):
            line = proc.stdout.readline()
    assert "serving" in line, (line, proc.poll())
    url = line.split(" at ")[1].strip()
    yield {"url": url, "proc": proc, "port": port, "out": out}
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()


def _post(url: str, body: bytes, method: str = "POST") -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body if method == "POST" else None, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _digits(n: int = 20):
    from mobilepack.data.readers import read_samples
    from mobilepack.model.loading import load
    from mobilepack.server.export import concat_samples

    spec = load(DIGITS / "digits.keras").spec
    x = concat_samples(read_samples(DIGITS / "eval", spec), limit=10_000)["image"]   # sorted by class folder
    return x[np.linspace(0, len(x) - 1, n).astype(int)]


def test_build_writes_both_serving_setups(built):
    out, report = built
    server = out / "server"
    record = json.loads((server / "server.json").read_text())
    name = record["name"]
    assert (server / "tfserving" / name / "1" / "saved_model.pb").is_file()
    assert record["export"]["outputs"][0]["name"] == "probabilities"       # the source model's output name
    assert max(record["export"]["max_abs_diff"].values()) < 1e-4
    for f in ("models.config", "batching_params.pbtxt", "docker-compose.yml", "kserve-inferenceservice.yaml"):
        assert (server / "tfserving" / f).is_file(), f
    assert (server / "serve_config.yaml").is_file() and (server / "README.md").is_file()
    assert set(record["variants"]) == {"savedmodel", "fp32"}
    assert "server" in report["apps"] and "android" not in report["apps"]
    grid = report["server"]["grid"]
    assert len(grid) == 2 and all(r["requests"] > 0 and r["errors"] == 0 for r in grid)
    assert {"requests_per_s", "samples_per_s", "p50_ms", "p90_ms", "p99_ms"} <= set(grid[0])
    md = (out / "reports" / "report.md").read_text()
    html = (out / "reports" / "report.html").read_text()
    assert "## Server" in md and '<table id="server">' in html and "<svg" in html.split("<h2>Server</h2>")[1]


def _batching_parameters_class():
    """TF Serving's ``BatchingParameters`` (tensorflow_serving/servables/tensorflow/session_bundle_config.proto:
    the field names, numbers and types).  tensorflow-serving-api 2.21 does not ship that module, so the
    message is built from its definition on Google's own wrapper types."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

    f = descriptor_pb2.FileDescriptorProto(name="mobilepack_test/session_bundle_config.proto",
                                           package="tensorflow.serving", syntax="proto3",
                                           dependency=["google/protobuf/wrappers.proto"])
    msg = f.message_type.add(name="BatchingParameters")
    T = descriptor_pb2.FieldDescriptorProto
    for number, (name, wrapper) in enumerate((("max_batch_size", "Int64Value"), ("batch_timeout_micros", "Int64Value"),
                                              ("max_enqueued_batches", "Int64Value"),
                                              ("num_batch_threads", "Int64Value"),
                                              ("thread_pool_name", "StringValue")), start=1):
        msg.field.add(name=name, number=number, type=T.TYPE_MESSAGE, label=T.LABEL_OPTIONAL,
                      type_name=f".google.protobuf.{wrapper}")
    msg.field.add(name="allowed_batch_sizes", number=6, type=T.TYPE_INT64, label=T.LABEL_REPEATED)
    msg.field.add(name="pad_variable_length_inputs", number=7, type=T.TYPE_BOOL, label=T.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters"))


def test_tf_serving_files_parse_with_tf_servings_protos(built):
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    from mobilepack.server.batching import choose_batching

    out, _ = built
    tfs = out / "server" / "tfserving"
    record = json.loads((out / "server" / "server.json").read_text())
    config = text_format.Parse((tfs / "models.config").read_text(), model_server_config_pb2.ModelServerConfig())
    (model,) = config.model_config_list.config
    assert model.name == record["name"] and model.model_platform == "tensorflow"
    # docker-compose mounts this folder at /models: base_path must be the model's folder here
    assert model.base_path == f"/models/{record['name']}" and (tfs / record["name"] / "1").is_dir()
    params = text_format.Parse((tfs / "batching_params.pbtxt").read_text(), _batching_parameters_class()())
    chosen = choose_batching(record["batch_latency"], record["grid_spec"]["p99_ms"])   # from the measured table
    assert params.max_batch_size.value == chosen["max_batch_size"]
    assert list(params.allowed_batch_sizes) == chosen["allowed_batch_sizes"]
    assert params.allowed_batch_sizes[-1] == params.max_batch_size.value      # TF Serving's own requirement
    # the same parsers refuse a broken file (the check is real)
    with pytest.raises(text_format.ParseError):
        text_format.Parse("max_batch_size: 8\n", _batching_parameters_class()())
    with pytest.raises(text_format.ParseError):
        text_format.Parse((tfs / "models.config").read_text().replace("base_path", "basepath"),
                          model_server_config_pb2.ModelServerConfig())


def test_compose_kserve_and_serve_config_are_valid(built):
    import yaml
    from ray.serve.schema import ServeDeploySchema

    out, _ = built
    record = json.loads((out / "server" / "server.json").read_text())
    compose = yaml.safe_load((out / "server" / "tfserving" / "docker-compose.yml").read_text())
    service = compose["services"]["tfserving"]
    assert service["image"] == "tensorflow/serving:2.21.0"
    assert "--batching_parameters_file=/models/batching_params.pbtxt" in service["command"]
    kserve = yaml.safe_load((out / "server" / "tfserving" / "kserve-inferenceservice.yaml").read_text())
    assert (kserve["apiVersion"], kserve["kind"]) == ("serving.kserve.io/v1beta1", "InferenceService")
    assert kserve["spec"]["predictor"]["model"]["modelFormat"]["name"] == "tensorflow"
    doc = yaml.safe_load((out / "server" / "serve_config.yaml").read_text())
    app = ServeDeploySchema.model_validate(doc).applications[0]
    (deployment,) = app.deployments
    assert deployment.user_config["max_batch_size"] == record["ray"]["max_batch_size"]
    assert deployment.num_replicas == record["ray"]["num_replicas"] and app.args["variant"] == record["ray"]["variant"]
    doc["applications"][0]["deployments"][0]["num_replicas"] = "many"
    with pytest.raises(Exception, match="num_replicas"):
        ServeDeploySchema.model_validate(doc)


def test_predict_matches_litert_top1(served):
    from ai_edge_litert.interpreter import Interpreter

    x = _digits()
    status, answer = _post(served["url"], json.dumps({"instances": x.tolist()}).encode())
    assert status == 200, answer
    served_top1 = np.argmax(np.array(answer["predictions"]), axis=1)
    interpreter = Interpreter(model_path=str(served["out"] / "models" / "digits_fp32.tflite"))
    runner = interpreter.get_signature_runner("serving_default")
    lite_top1 = [int(np.argmax(runner(image=x[i:i + 1])["probabilities"])) for i in range(len(x))]
    assert served_top1.tolist() == lite_top1
    assert len(set(lite_top1)) > 3          # real digits, not one class everywhere


@pytest.mark.parametrize("body, method, path, status, fragment", [
    (b'{"instances": [[1, 2', "POST", None, 400, "malformed JSON"),
    (json.dumps({"instances": [[1.0, 2.0, 3.0]]}).encode(), "POST", None, 400, "wrong shape"),
    (json.dumps({"instances": [[[["x"] * 3] * 32] * 32]}).encode(), "POST", None, 400, "wrong dtype"),
    (None, "POST", None, 413, "over the limit"),
    (b"{}", "GET", None, 405, "POST"),
    (b"{}", "POST", "/v1/models/other:predict", 404, "no such endpoint"),
], ids=["json", "shape", "dtype", "oversized", "method", "path"])
def test_bad_requests_get_4xx_and_the_replica_keeps_serving(served, body, method, path, status, fragment):
    url = served["url"] if path is None else f"http://127.0.0.1:{served['port']}{path}"
    if body is None:
        limit = json.loads((served["out"] / "server" / "server.json").read_text())["limits"]["max_body_bytes"]
        body = b" " * (limit + 1)
    got, answer = _post(url, body, method)
    assert got == status and fragment in answer["error"], (got, answer)
    ok, _ = _post(served["url"], json.dumps({"instances": _digits(1).tolist()}).encode())
    assert ok == 200


def test_ctrl_c_stops_the_server_cleanly(served):
    proc = served["proc"]
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=90)
    assert proc.returncode == 0, stderr
    assert "stopped" in stderr and "Traceback" not in stderr
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(served["url"].replace(":predict", ""), timeout=5)


def test_without_the_extra_target_server_is_one_line(tmp_path):
    code = ("import sys; sys.modules['ray'] = None; sys.modules['tensorflow_serving'] = None; "
            "from mobilepack.cli import main; sys.argv = ['mobilepack'] + sys.argv[1:]; main()")
    for args in (["build", str(DIGITS / "digits.keras"), "--target", "server", "-o", str(tmp_path / "o")],
                 ["serve", str(tmp_path)]):
        proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)
        assert_clean_error(proc, 2, "mobilepack[server]", "pip install")
        assert not (tmp_path / "o").exists()


def test_server_target_refuses_a_tflite_source_and_bad_grid_options(tmp_path, built):
    require(HAVE_EXTRA, "the optional extra mobilepack[server] is not installed")
    out, _ = built
    result = run_cli("build", out / "models" / "digits_fp32.tflite", "--target", "server", "-o", tmp_path / "o")
    assert_clean_error(result, 2, "SavedModel or Keras source")
    result = run_cli("build", DIGITS / "digits.keras", "--target", "server", "-o", tmp_path / "o",
                     "--server-batch", "0,4")
    assert_clean_error(result, 2, "--server-batch")
    result = run_cli("serve", out, "--port", "8000")
    assert_clean_error(result, 2, "not a server target output", str(out / "server"))
    assert not (tmp_path / "o").exists()


def test_render_target_server_from_a_build(built, tmp_path):
    out, _ = built
    result = run_cli("render", out, "--target", "server", "-o", tmp_path / "srv", "--json", timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((tmp_path / "srv" / "server.json").read_text())
    assert record["grid_spec"]["max_batch_size"] == [4]                   # the build's [server] options
    assert (tmp_path / "srv" / "tfserving" / record["name"] / "1" / "saved_model.pb").is_file()
    assert json.loads(result.stdout)["server"]["name"] == record["name"]
    result = run_cli("render", out / "models", "--target", "server", "-o", tmp_path / "x")
    assert_clean_error(result, 2, "not one", "mobilepack build")
    assert not (tmp_path / "x").exists()


def test_export_check_refuses_a_signature_that_differs_from_the_source(tmp_path):
    from mobilepack.errors import ValidationError
    from mobilepack.model.loading import load
    from mobilepack.server.export import export_savedmodel

    src = load(DIGITS / "digits.keras")
    x = _digits(4)
    record = export_savedmodel(src, tmp_path / "ok" / "1", {"image": x})
    assert record["checked_samples"] == 4 and record["max_abs_diff"]["probabilities"] < 1e-4
    true_predict = src.predict
    src.predict = lambda feeds: {k: v + 1e-2 for k, v in true_predict(feeds).items()}   # a broken export stand-in
    with pytest.raises(ValidationError, match="differs from the source model"):
        export_savedmodel(src, tmp_path / "bad" / "1", {"image": x})
