"""TensorFlow Serving's files beside the SavedModel: ``models.config`` (a ``ModelServerConfig``),
``batching_params.pbtxt`` (``BatchingParameters``), a ``docker-compose.yml`` for the official image
(pinned), and a KServe ``InferenceService`` manifest.  All text, written from plain values; the tests
parse them with TF Serving's own protobuf definitions and a YAML parser."""

from __future__ import annotations

import re
from typing import Any

from mobilepack.server import TF_SERVING_IMAGE

REST_PORT = 8501
GRPC_PORT = 8500


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def models_config(name: str) -> str:
    """One model, served from ``/models/NAME`` (its numbered version folders) in the container."""
    return ("model_config_list {\n"
            "  config {\n"
            f"    name: {_q(name)}\n"
            f"    base_path: {_q('/models/' + name)}\n"
            '    model_platform: "tensorflow"\n'
            "    model_version_policy { latest { num_versions: 1 } }\n"
            "  }\n"
            "}\n")


def batching_params(params: dict[str, Any]) -> str:
    """``BatchingParameters`` in text format (its scalar fields are wrapper messages)."""
    lines = ["# chosen by mobilepack from measured batch latencies (server.json: batching)"]
    for key in ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads"):
        lines.append(f"{key} {{ value: {int(params[key])} }}")
    lines += [f"allowed_batch_sizes: {int(b)}" for b in params["allowed_batch_sizes"]]
    return "\n".join(lines) + "\n"


def docker_compose(name: str) -> str:
    return (f"# TensorFlow Serving {TF_SERVING_IMAGE.split(':')[1]} (the official image, pinned to the TensorFlow\n"
            "# release the SavedModel was exported with).  Run from this folder: docker compose up\n"
            f"# REST: http://localhost:{REST_PORT}/v1/models/{name}:predict   gRPC: localhost:{GRPC_PORT}\n"
            "services:\n"
            "  tfserving:\n"
            f"    image: {TF_SERVING_IMAGE}\n"
            "    command:\n"
            "      - --model_config_file=/models/models.config\n"
            "      - --enable_batching=true\n"
            "      - --batching_parameters_file=/models/batching_params.pbtxt\n"
            f"      - --rest_api_port={REST_PORT}\n"
            f"      - --port={GRPC_PORT}\n"
            "    ports:\n"
            f'      - "{REST_PORT}:{REST_PORT}"\n'
            f'      - "{GRPC_PORT}:{GRPC_PORT}"\n'
            "    volumes:\n"
            "      - ./:/models:ro\n")


def kserve_name(name: str) -> str:
    """A DNS-1123 label (what Kubernetes accepts as a resource name)."""
    label = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63].strip("-")
    return label or "model"


def kserve_manifest(name: str) -> str:
    return ("# KServe InferenceService for the TensorFlow Serving runtime.  Copy the folder "
            f"{name}/ (its version folders)\n"
            "# to the storage below (or edit storageUri), then: kubectl apply -f kserve-inferenceservice.yaml\n"
            "apiVersion: serving.kserve.io/v1beta1\n"
            "kind: InferenceService\n"
            "metadata:\n"
            f"  name: {kserve_name(name)}\n"
            "spec:\n"
            "  predictor:\n"
            "    model:\n"
            "      modelFormat:\n"
            "        name: tensorflow\n"
            f'      runtimeVersion: "{TF_SERVING_IMAGE.split(":")[1]}"\n'
            f'      storageUri: "pvc://mobilepack-models/{name}"\n')


def files(name: str, params: dict[str, Any]) -> dict[str, str]:
    """{file name: text} of the TF Serving folder (the SavedModel is written separately)."""
    return {"models.config": models_config(name), "batching_params.pbtxt": batching_params(params),
            "docker-compose.yml": docker_compose(name), "kserve-inferenceservice.yaml": kserve_manifest(name)}
