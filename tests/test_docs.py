"""The documentation: ``docs/`` builds with ``mkdocs build --strict`` (mkdocs.yml turns an unresolved
link or anchor into a warning, and --strict makes a warning fatal), README.md's links resolve, and
the CLI reference (``docs/cli/``) lists exactly the options every command takes.

How the CLI reference is read: a heading whose text starts with ```mobilepack`` names the commands
that follow it (``mobilepack compress prune|cluster|qat|distill`` names four; a heading naming no
command, e.g. ```mobilepack [--debug] COMMAND```, is the top level).  The tables directly under it
(before the next heading) whose first header cell is ``option`` list its options: every ``-x`` /
``--xyz`` inside a code span of a row's first cell.  For every command, the options in those tables
must be exactly the ones ``typer.main.get_command(app)`` gives (``opts`` and ``secondary_opts``);
any other ``--option`` named on a CLI page must belong to some mobilepack command, or to another
tool in ``OTHER_TOOLS``.  Reading the options imports only the typer app: no TensorFlow."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, require

DOCS = ROOT / "docs"
CLI_DOCS = DOCS / "cli"

# --options the CLI pages quote from other tools, and click's own help option
OTHER_TOOLS = frozenset({
    "--graph",   # Android's benchmark_model (bench --adb)
    "--help",    # every mobilepack command has it (click), not a parameter
})

HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")
CODE_SPAN = re.compile(r"`([^`]+)`")
OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")
LONG_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9]*(?:-[a-z0-9]+)*(?![\w-])")
CELL_SPLIT = re.compile(r"(?<!\\)\|")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


# --- the site ------------------------------------------------------------------------------------

def build_site(config: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
                           "--site-dir", str(site)], capture_output=True, text=True, timeout=300)


def _require_mkdocs() -> None:
    require(importlib.util.find_spec("mkdocs") is not None,
            "mkdocs is not installed (it is in the dev extras: pip install -e '.[dev]')")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    _require_mkdocs()
    out = tmp_path_factory.mktemp("site")
    result = build_site(ROOT / "mkdocs.yml", out)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def test_docs_build_strict(site: Path) -> None:
    """`mkdocs build --strict` succeeds: every page is in the nav, every link and anchor resolves."""
    assert (site / "index.html").is_file()
    assert (site / "cli" / "build" / "index.html").is_file()


@pytest.mark.parametrize("broken", ["[gone](no-such-page.md)", "[gone](cli/convert.md#no-such-anchor)",
                                    "[gone](#no-such-heading)"])
def test_strict_build_fails_on_a_broken_link(tmp_path: Path, broken: str) -> None:
    """The same build over a copy of the docs with one broken link (or anchor) fails and names it."""
    _require_mkdocs()
    shutil.copytree(DOCS, tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    index = tmp_path / "docs" / "index.md"
    index.write_text(index.read_text(encoding="utf-8") + f"\nSee {broken}.\n", encoding="utf-8")
    result = build_site(tmp_path / "mkdocs.yml", tmp_path / "site")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert broken.split("(", 1)[1].rstrip(")").split("#")[-1] in output, output


# --- README.md's links ---------------------------------------------------------------------------

def _github_slug(heading: str) -> str:
    text = heading.replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _page_html(site: Path, page: str) -> Path:
    """docs/cli/build.md -> site/cli/build/index.html (MkDocs' directory URLs)."""
    rel = Path(page).relative_to("docs").with_suffix("")
    return site / (rel.parent if rel.name == "index" else rel) / "index.html"


def readme_link_problems(text: str, root: Path, site: Path) -> list[str]:
    """Relative links of a README: the file exists; an anchor exists (README headings, or the built page's ids)."""
    problems = []
    own = {_github_slug(m.group(2)) for line in text.splitlines() if (m := HEADING.match(line))}
    for target in LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):
            continue   # https:, mailto:
        path, _, anchor = target.partition("#")
        if not path:
            if anchor not in own:
                problems.append(f"{target}: no such heading in README.md")
        elif not (root / path).exists():
            problems.append(f"{target}: no such file")
        elif anchor:
            html = _page_html(site, path) if path.startswith("docs/") and path.endswith(".md") else None
            if html is None or f'id="{anchor}"' not in html.read_text(encoding="utf-8"):
                problems.append(f"{target}: no such anchor")
    return problems


def test_readme_links_resolve(site: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/cli/index.md" in readme and "make demo" in readme and "make test" in readme
    assert readme_link_problems(readme, ROOT, site) == []


def test_readme_link_check_can_fail(site: Path) -> None:
    text = ("# Title\n\n## Usage\n\n[ok](docs/index.md) [ok](#usage) [ok](docs/cli/inspect.md#json-schema)\n"
            "[a](docs/nope.md) [b](docs/cli/inspect.md#nope) [c](#nowhere) [d](https://example.org/x)\n")
    assert readme_link_problems(text, ROOT, site) == [
        "docs/nope.md: no such file", "docs/cli/inspect.md#nope: no such anchor", "#nowhere: no such heading in README.md"]


# --- the CLI reference against the typer app -----------------------------------------------------

def cli_options() -> dict[tuple[str, ...], frozenset[str]]:
    """Every command path of the typer app (() is the top level) -> the option strings it accepts."""
    import typer

    from mobilepack.cli import app

    out: dict[tuple[str, ...], frozenset[str]] = {}

    def walk(command, path: tuple[str, ...]) -> None:
        out[path] = frozenset(name for p in command.params if p.param_type_name == "option"
                              for name in (*p.opts, *p.secondary_opts))
        for sub_name, sub in getattr(command, "commands", {}).items():
            walk(sub, (*path, sub_name))

    walk(typer.main.get_command(app), ())
    return out


def _named_commands(heading: str, commands) -> list[tuple[str, ...]] | None:
    """The command paths a heading names (``mobilepack compress prune|qat`` -> two), None if not a command heading."""
    words = heading.replace("`", " ").replace("\\|", "|").split()
    if not words or words[0] != "mobilepack":
        return None
    paths: list[tuple[str, ...]] = [()]
    for word in words[1:]:
        longer = [(*p, alt) for p in paths for alt in word.split("|")]
        if not all(p in commands for p in longer):
            break
        paths = longer
    return paths


def _sections(text: str):
    """(heading text, body lines up to the next heading) for each heading outside code fences."""
    heading, body, fenced = None, [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        m = None if fenced else HEADING.match(line)
        if m:
            if heading is not None:
                yield heading, body
            heading, body = m.group(2), []
        else:
            body.append(line)
    if heading is not None:
        yield heading, body


def _table_options(body: list[str]) -> set[str]:
    """Options in the first cell of the rows of the body's ``| option | ...`` tables."""
    found, in_table = set(), False
    for line in body:
        if not line.lstrip().startswith("|"):
            in_table = False
            continue
        cells = [c.strip() for c in CELL_SPLIT.split(line.strip().strip("|"))]
        if not in_table:
            in_table = cells[0] == "option"
            continue
        if set(cells[0]) <= set("-: "):
            continue   # the |---| row
        for span in CODE_SPAN.findall(cells[0]):
            found.update(OPTION.findall(span.replace("\\|", "|")))
    return found


def option_mismatches(pages: dict[str, str], commands: dict[tuple[str, ...], frozenset[str]]) -> list[str]:
    """What differs between the CLI pages (name -> Markdown) and the commands' options; [] when they agree."""
    documented: dict[tuple[str, ...], set[str]] = {}
    problems = []
    everything = set().union(*commands.values()) | OTHER_TOOLS
    for name, text in sorted(pages.items()):
        for heading, body in _sections(text):
            paths = _named_commands(heading, commands)
            if paths is None:
                continue
            listed = _table_options(body)
            for path in paths:
                documented.setdefault(path, set()).update(listed)
                for extra in sorted(listed - commands[path]):
                    problems.append(f"{name}: `{' '.join(('mobilepack', *path))}` has no option {extra}")
        for option in sorted(set(LONG_OPTION.findall(text)) - everything):
            problems.append(f"{name}: {option} is no option of any mobilepack command")
    for path, options in sorted(commands.items()):
        command = " ".join(("mobilepack", *path))
        if options and path not in documented:
            problems.append(f"no heading in docs/cli/ names `{command}`")
            continue
        for missing in sorted(options - documented.get(path, set())):
            problems.append(f"`{command}`: {missing} is not in the docs")
    return problems


def cli_pages() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(CLI_DOCS.glob("*.md"))}


def test_cli_options_match_docs() -> None:
    """Every option of every command is in its docs section, and every option the docs list exists."""
    commands = cli_options()
    assert {("build",), ("convert",), ("compress", "distill"), ("inspect",)} <= set(commands)
    assert option_mismatches(cli_pages(), commands) == []


def test_option_check_reports_mismatches() -> None:
    """The check fails on a doc missing an option, listing a wrong one, or naming an unknown one."""
    commands = {(): frozenset({"--debug"}), ("run",): frozenset({"--fast", "-f", "--json", "--no-json"}),
                ("tool",): frozenset(), ("tool", "a"): frozenset({"--x"}), ("tool", "b"): frozenset({"--x", "--y"}),
                ("quiet",): frozenset({"--z"})}
    good = {"cli.md": "# `mobilepack [--debug]`\n\n| option | meaning |\n|---|---|\n| `--debug` | tracebacks |\n\n"
                      "## `mobilepack run NAME`\n\n| option | meaning |\n|---|---|\n| `--fast/-f` | fast |\n"
                      "| `--json/--no-json` | JSON |\n\n## `mobilepack tool a|b`\n\n| option | meaning |\n|---|---|\n"
                      "| `--x N` | x |\n\n### `mobilepack tool b`\n\n| option | meaning |\n|---|---|\n| `--y` | y |\n\n"
                      "## `mobilepack quiet`\n\n| option | meaning |\n|---|---|\n| `--z` | z |\n"}
    assert option_mismatches(good, commands) == []
    missing = {"cli.md": good["cli.md"].replace("| `--fast/-f` | fast |\n", "| `--fast` | fast |\n")}
    assert option_mismatches(missing, commands) == ["`mobilepack run`: -f is not in the docs"]
    wrong = {"cli.md": good["cli.md"].replace("| `--x N` | x |", "| `--x N`, `--y` | x |")}
    assert option_mismatches(wrong, commands) == ["cli.md: `mobilepack tool a` has no option --y"]
    unknown = {"cli.md": good["cli.md"] + "\nLike `mobilepack run --fastest`.\n"}
    assert option_mismatches(unknown, commands) == ["cli.md: --fastest is no option of any mobilepack command"]
    no_heading = {"cli.md": good["cli.md"].replace("## `mobilepack quiet`", "## quiet")}
    assert option_mismatches(no_heading, commands) == ["no heading in docs/cli/ names `mobilepack quiet`"]


def test_option_check_on_the_real_docs_can_fail() -> None:
    """Removing a row from the real inspect page, or adding a wrong one to bench's, is reported."""
    pages, commands = cli_pages(), cli_options()
    row = next(line for line in pages["inspect.md"].splitlines() if line.startswith("| `--gpu-timeout"))
    pages["inspect.md"] = pages["inspect.md"].replace(row + "\n", "")
    pages["bench.md"] = pages["bench.md"].replace("| `--strict` |", "| `--strict`, `--doctor` |", 1)
    assert option_mismatches(pages, commands) == ["bench.md: `mobilepack bench` has no option --doctor",
                                                  "`mobilepack inspect`: --gpu-timeout is not in the docs"]
