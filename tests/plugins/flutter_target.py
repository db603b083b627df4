"""A render target added from outside mobilepack: one module, one ``register()`` call.

A minimal Flutter project (pubspec, a Dart file naming the model, the model and labels
as assets); its app identifier is the ``[render] package`` key (Flutter's Android
application id), validated as Android's is."""

from pathlib import Path

from mobilepack.render.android import default_package, validate_package
from mobilepack.render.context import common_assets
from mobilepack.render.targets import Target, register


def dart_string(value) -> str:
    text = str(value).replace("\\", "\\\\").replace("'", "\\'").replace("$", "\\$").replace("\n", "\\n")
    return f"'{text}'"


register(Target(
    name="flutter",
    template_dir=str(Path(__file__).resolve().parent / "flutter_templates"),
    description="Flutter project (Dart, tflite_flutter)",
    id_key="package",
    default_id=default_package,
    validate_id=validate_package,
    filters={"dart_string": dart_string},
    assets=lambda inputs, context: {f"assets/{name}": data for name, data in common_assets(inputs).items()},
))
