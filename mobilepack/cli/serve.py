"""``mobilepack serve``: the Ray Serve application of a ``--target server`` output, on loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mobilepack.cli._console import err_console, handle_errors, out_console


def serve_command(
    server_dir: Annotated[Path, typer.Argument(help="The server/ folder `mobilepack build --target server` wrote.",
                                               show_default=False)],
    port: Annotated[int, typer.Option("--port", "-p", help="Port on 127.0.0.1.")] = 8000,
) -> None:
    """Serve the model on 127.0.0.1 with Ray Serve (TF Serving's REST API) until Ctrl-C."""
    with handle_errors():
        from mobilepack.server import require_extra
        from mobilepack.server.running import check_port, check_server_dir

        require_extra("mobilepack serve")
        record = check_server_dir(server_dir)
        check_port(port)
        from mobilepack.server import running

        ray = record["ray"]
        err_console().print(f"starting Ray Serve ({ray['variant']}, batch ≤ {ray['max_batch_size']}, "
                            f"{ray['num_replicas']} replica(s)) …")
        try:
            running.start_ray(max(2, ray["num_replicas"]))
            url = running.deploy(server_dir, port)
            console = out_console()
            console.print(f"serving {record['name']} at {url}", soft_wrap=True)
            console.file.flush()
            err_console().print("Ctrl-C stops it")
            _wait()
        finally:
            running.stop()
        err_console().print("stopped")


def _wait() -> None:
    import time

    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return
