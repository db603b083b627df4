"""The Ray Serve config file and the README of ``OUT/server/``, as text from ``server.json``."""

from __future__ import annotations

from typing import Any

from mobilepack.server import TF_SERVING_IMAGE


def serve_config(record: dict[str, Any]) -> str:
    """Ray Serve's config (``ServeDeploySchema``): ``serve run serve_config.yaml`` from this folder, or
    ``serve deploy`` to a cluster; ``working_dir: .`` ships the folder to every node."""
    ray = record["ray"]
    return ("# Ray Serve: run from this folder with `serve run serve_config.yaml` (one machine).  On a cluster\n"
            "# (`ray start --head` on one machine, `ray start --address=HEAD:6379` on the others): zip this folder\n"
            "# to a URI every node can read, uncomment runtime_env with it, `serve deploy serve_config.yaml`, and\n"
            "# raise num_replicas.  Every node needs `pip install 'mobilepack[server]'`.\n"
            f"# Chosen by measurement ({ray['rule']}).\n"
            "proxy_location: EveryNode\n"
            "http_options:\n"
            "  host: 0.0.0.0\n"
            "  port: 8000\n"
            "applications:\n"
            f"  - name: {record['name']}\n"
            "    route_prefix: /\n"
            "    import_path: mobilepack.server.ray_app:build_app\n"
            "    # runtime_env:\n"
            "    #   working_dir: s3://YOUR-BUCKET/server.zip\n"
            "    args:\n"
            "      server_dir: .\n"
            f"      variant: {ray['variant']}\n"
            "    deployments:\n"
            "      - name: Predictor\n"
            f"        num_replicas: {ray['num_replicas']}\n"
            f"        max_ongoing_requests: {max(64, 4 * ray['max_batch_size'])}\n"
            "        user_config:\n"
            f"          max_batch_size: {ray['max_batch_size']}\n"
            f"          batch_wait_timeout_s: {ray['batch_wait_timeout_s']}\n"
            "        ray_actor_options:\n"
            f"          num_cpus: {ray.get('replica_cpus', 1)}\n")


def readme(record: dict[str, Any]) -> str:
    name, ray, tb = record["name"], record["ray"], record["batching"]
    example = '{"instances": [ ...one sample per entry... ]}'
    return f"""# {name}: serving

Two ways to serve the model; both answer TensorFlow Serving's REST predict API, so a client can switch:

    POST /v1/models/{name}:predict   {example}

## TensorFlow Serving (`tfserving/`)

- `{name}/1/`: the SavedModel (signature `serving_default`, any batch size), checked against the source
  model on {record['export']['checked_samples']} samples (largest difference {max(record['export']['max_abs_diff'].values()):.3g}).
- `models.config`, `batching_params.pbtxt` (max batch {tb['max_batch_size']}, timeout {tb['batch_timeout_micros']} µs: {tb['rule']}).
- `docker-compose.yml`: `cd tfserving && docker compose up` runs `{TF_SERVING_IMAGE}`; REST on port 8501.
- `kserve-inferenceservice.yaml`: the same model on Kubernetes with KServe (copy `{name}/` to the storage it names).

## Ray Serve (`serve_config.yaml`, `ray/`)

Serves variant `{ray['variant']}` with dynamic batching (`@serve.batch`, up to {ray['max_batch_size']} requests per
batch) on {ray['num_replicas']} replica(s): {ray['rule']}.

- Here: `mobilepack serve .` (127.0.0.1, `--port`), or `serve run serve_config.yaml` from this folder.
- On several machines: `ray start --head` on one, `ray start --address=HEAD:6379` on the others, then
  `serve deploy serve_config.yaml` and raise `num_replicas`.

`server.json` records the measurements behind these choices (the build report's Server section shows them).
"""
