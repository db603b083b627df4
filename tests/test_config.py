"""mobilepack.toml: validation, nearest-key errors, starter file, precedence; property tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from mobilepack.config import SCHEMA, ConfigError, parse_config, resolve, starter_config
from tests.conftest import assert_clean_error, run_cli


def test_starter_file_parses_and_mentions_every_option():
    text = starter_config("model.keras")
    parsed = parse_config(text, base=Path("/proj"))
    assert parsed["build"]["source"] == "/proj/model.keras"
    for section, options in SCHEMA.items():
        assert f"[{section}]" in text
        for key in options:
            assert f"{key} = " in text


@pytest.mark.parametrize("text,fragment,hint", [
    ("[convert]\nquantise = ['fp32']\n", "unknown key 'quantise' in [convert]", "did you mean 'quantize'?"),
    ("[bech]\nruns = 3\n", "unknown section [bech]", "did you mean 'bench'?"),
    ("[bench]\nthreads = ['two']\n", "[bench] threads must be a list of ints", "mobilepack init"),
    ("[convert]\nquantize = ['int4']\n", "invalid value 'int4'", "int8"),
    ("[build]\ntarget = 'androd'\n", "invalid value 'androd'", "did you mean 'android'?"),
    ("[build]\nmax_accuracy_drop = 'small'\n", "must be a number", "mobilepack init"),
    ("[convert\n", "not valid TOML", "fix the syntax"),
])
def test_errors_name_the_key(text, fragment, hint):
    with pytest.raises(ConfigError) as err:
        parse_config(text, base=Path("."))
    assert fragment in err.value.message
    assert hint in err.value.hint
    assert err.value.exit_code == 2


def test_cli_overrides_config_overrides_defaults(tmp_path):
    cfg = parse_config("[bench]\nruns = 7\nthreads = [4]\n[convert]\ncalibration = 'cal'\n", base=tmp_path)
    merged = resolve(cfg, {"bench": {"runs": 3, "threads": None}})
    assert merged["bench"]["runs"] == 3            # CLI wins
    assert merged["bench"]["threads"] == [4]       # config wins over default
    assert merged["bench"]["warmup"] == 5          # default
    assert merged["convert"]["calibration"] == str(tmp_path / "cal")  # relative to the file


def test_init_command_writes_and_refuses_to_overwrite(tmp_path):
    target = tmp_path / "mobilepack.toml"
    r = run_cli("init", "model.keras", "--path", target)
    assert r.returncode == 0, r.stderr
    assert parse_config(target.read_text(), base=tmp_path)["build"]["source"] == str(tmp_path / "model.keras")
    target.write_text("# mine\n")
    r = run_cli("init", "--path", target)
    assert_clean_error(r, 2, "already exists", "--force")
    assert target.read_text() == "# mine\n"


_keys = st.sampled_from([(s, k) for s, opts in SCHEMA.items() for k in opts])
_values = st.one_of(st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False, allow_infinity=False),
                    st.text(max_size=8), st.lists(st.integers(0, 4), max_size=3), st.lists(st.text(max_size=4), max_size=3))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_keys, _values), max_size=6), st.text(max_size=6))
def test_any_document_is_accepted_or_refused_cleanly(entries, junk_key):
    """Property: arbitrary (section, key, value) documents either validate or raise ConfigError —
    never another exception."""
    import tomllib  # noqa: F401  (the parser under test)

    lines = []
    sections: dict[str, list[str]] = {}
    for (section, key), value in entries:
        sections.setdefault(section, []).append(f"{key} = {_toml(value)}")
    if junk_key.isidentifier():
        sections.setdefault("build", []).append(f"{junk_key} = 1")
    for section, body in sections.items():
        lines.append(f"[{section}]")
        lines.extend(dict.fromkeys(body))
    text = "\n".join(lines)
    try:
        parsed = parse_config(text, base=Path("/p"))
    except ConfigError as exc:
        assert exc.message and exc.hint
    else:
        for section, table in parsed.items():
            for key in table:
                assert key in SCHEMA[section]


def _toml(value) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)
