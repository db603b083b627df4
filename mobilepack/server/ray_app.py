"""The Ray Serve application: one deployment that answers TF Serving's REST API for one model.

``POST /v1/models/NAME:predict`` (also ``/v1/models/NAME/versions/1:predict``) runs the variant named
in ``server.json`` (the SavedModel through TensorFlow, or a ``.tflite`` through LiteRT/XNNPACK);
requests are grouped by ``@serve.batch`` (``max_batch_size`` requests or ``batch_wait_timeout_s``,
both in the deployment's ``user_config`` so they change without a restart).  A batch runs on one
inference thread of its own (the runtimes release the GIL), so the replica's event loop reads,
decodes and answers the next requests while the model runs; one thread, so the runtime is never
entered twice at once.  ``GET
/v1/models/NAME`` is TF Serving's model status.  A bad request gets a 4xx and ``{"error": ...}``;
nothing a client sends stops the replica.

``build_app`` is the application builder that ``serve_config.yaml`` names (``import_path``)."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from ray import serve

from mobilepack.server.protocol import PREDICT_PATH, RequestError, decode, encode, error_body

RECORD = "server.json"


def read_record(server_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(server_dir) / RECORD).read_text(encoding="utf-8"))


@serve.deployment(name="Predictor")
class Predictor:
    def __init__(self, server_dir: str, variant: str) -> None:
        from mobilepack.server.runners import open_runner

        record = read_record(server_dir)
        self.name = record["name"]
        self.variant = variant
        self.runner = open_runner(variant, Path(server_dir) / record["variants"][variant])
        limits = record["limits"]
        self.max_body_bytes, self.max_instances = limits["max_body_bytes"], limits["max_instances"]
        self.output_order = tuple(t.name for t in self.runner.outputs)
        self.inference = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")

    def reconfigure(self, config: dict[str, Any]) -> None:
        self.predict_batch.set_max_batch_size(int(config["max_batch_size"]))
        self.predict_batch.set_batch_wait_timeout_s(float(config["batch_wait_timeout_s"]))

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.002)
    async def predict_batch(self, requests: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
        sizes = [len(next(iter(r.values()))) for r in requests]
        feeds = ({k: np.concatenate([r[k] for r in requests]) for k in requests[0]} if len(requests) > 1
                 else requests[0])
        outputs = await asyncio.get_running_loop().run_in_executor(self.inference, self.runner.run, feeds)
        bounds = np.cumsum([0, *sizes])
        return [{k: v[bounds[i]:bounds[i + 1]] for k, v in outputs.items()} for i in range(len(requests))]

    async def __call__(self, request) -> Any:
        from starlette.responses import Response

        try:
            body = await self._handle(request)
            return Response(body, media_type="application/json")
        except RequestError as exc:
            return Response(error_body(exc.message), status_code=exc.status, media_type="application/json")
        except Exception as exc:  # noqa: BLE001 - the runtime failed on a checked request: answer, keep serving
            return Response(error_body(f"inference failed: {type(exc).__name__}: {exc}"), status_code=500,
                            media_type="application/json")

    async def _handle(self, request) -> bytes:
        match = PREDICT_PATH.match(request.url.path)
        if not match or match["name"] != self.name:
            raise RequestError(404, f"no such endpoint {request.url.path!r}: use POST /v1/models/{self.name}:predict")
        if match["version"] not in (None, "1"):
            raise RequestError(404, f"model {self.name!r} has only version 1")
        if match["verb"] is None and request.method == "GET":
            return json.dumps({"model_version_status": [{"version": "1", "state": "AVAILABLE", "status": {
                "error_code": "OK", "error_message": ""}}]}).encode("utf-8")
        if match["verb"] != "predict":
            raise RequestError(404, f"unsupported verb {match['verb']!r}: use :predict")
        if request.method != "POST":
            raise RequestError(405, f"{request.method} is not allowed: send the request with POST")
        body = await self._read_body(request)
        predict = decode(body, self.runner.inputs, max_body_bytes=self.max_body_bytes,
                         max_instances=self.max_instances)
        outputs = await self.predict_batch(predict.feeds)
        return encode(outputs, self.output_order, columnar=predict.columnar)

    async def _read_body(self, request) -> bytes:
        """The body, kept up to the limit; the rest is read and dropped (the connection stays usable)."""
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size <= self.max_body_bytes:
                chunks.append(chunk)
        if size > self.max_body_bytes:
            raise RequestError(413, f"request body is {size} bytes, over the limit of {self.max_body_bytes} bytes: "
                                    "send fewer instances per request")
        return b"".join(chunks)


def application(server_dir: str | Path, *, variant: str | None = None, max_batch_size: int | None = None,
                batch_wait_timeout_s: float | None = None, replicas: int | None = None):
    """The bound application for ``server_dir``; ``None`` keeps the setting ``server.json`` selected."""
    record = read_record(server_dir)
    chosen = record["ray"]
    batch = max_batch_size or chosen["max_batch_size"]
    return Predictor.options(
        num_replicas=replicas or chosen["num_replicas"],
        max_ongoing_requests=max(64, 4 * batch),
        user_config={"max_batch_size": batch,
                     "batch_wait_timeout_s": batch_wait_timeout_s or chosen["batch_wait_timeout_s"]},
        ray_actor_options={"num_cpus": chosen.get("replica_cpus", 1)},
    ).bind(str(server_dir), variant or chosen["variant"])


def build_app(args: dict[str, Any]):
    """Ray Serve's application builder (``import_path: mobilepack.server.ray_app:build_app``)."""
    return application(args.get("server_dir", "."), variant=args.get("variant"))
