"""The Training tab's list: the package's training and data scripts, found at run time.

Scripts are the modules of `signdemo/train/` (and the data/audit entry points if present). Their
docstring starts with the exact command (house style); it is read with `ast`, without importing the
module. `script_help` imports one module on request to print its argparse help.
"""

from __future__ import annotations

import ast
import importlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # signdemo/
REPO_DIR = PACKAGE_DIR.parent
#: Other entry points worth listing beside signdemo/train/*.py, if they exist.
EXTRA_SCRIPTS = ("synth/__main__.py", "audit.py", "audit/__main__.py", "__main__.py")


@dataclass
class Script:
    module: str  # e.g. "signdemo.train.bigru"
    path: Path
    relpath: str  # path from the repository root, e.g. "signdemo/train/bigru.py"
    summary: str  # first sentence of the docstring
    commands: list[str]  # command lines from the docstring (those starting with python/torchrun)
    docstring: str

    @property
    def command(self) -> str:
        return self.commands[0] if self.commands else f"python -m {self.module} --help"


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO_DIR).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__main__":
        parts = parts[:-1]
    return ".".join(parts)


def _commands(doc: str) -> list[str]:
    out = []
    for line in doc.splitlines():
        text = line.strip().lstrip("$ ").strip()
        if text.startswith(("python ", "python3 ", "torchrun ", "bash ")):
            out.append(text)
    return out


def _summary(doc: str, limit: int = 200) -> str:
    """The first sentence of the docstring's first prose paragraph (command lines skipped)."""
    paragraph: list[str] = []
    for line in doc.splitlines():
        text = line.strip()
        if text.startswith(("python ", "python3 ", "torchrun ", "bash ", "$ ")):
            continue
        if not text:
            if paragraph:
                break
            continue
        paragraph.append(text)
    prose = " ".join(paragraph)
    end = prose.find(". ")
    prose = prose if end < 0 else prose[: end + 1]
    return prose if len(prose) <= limit else prose[: limit - 1].rstrip() + "…"


def read_script(path: Path) -> Script | None:
    """A script's description from its source (no import); None for non-entry-point modules."""
    try:
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
    except (OSError, SyntaxError, UnicodeDecodeError) as exc:
        log.warning("cannot read %s: %s", path, exc)
        return None
    doc = ast.get_docstring(tree) or ""
    has_main = path.name == "__main__.py" or "__main__" in source
    if not has_main:
        return None  # a helper module (datasets, common, ...), not a script
    summary = _summary(doc)
    return Script(
        module=_module_name(path),
        path=path,
        relpath=path.relative_to(REPO_DIR).as_posix(),
        summary=summary,
        commands=_commands(doc),
        docstring=doc,
    )


def discover_scripts(package_dir: Path = PACKAGE_DIR) -> list[Script]:
    """The training scripts (signdemo/train/*.py with a __main__ guard) and other entry points."""
    paths = sorted(p for p in (package_dir / "train").glob("*.py") if not p.name.startswith("_"))
    paths += [package_dir / rel for rel in EXTRA_SCRIPTS if (package_dir / rel).is_file()]
    scripts = [s for s in (read_script(p) for p in paths) if s is not None]
    return scripts


def repository_url(relpath: str) -> str | None:
    """A link to the file in the repository: SIGNDEMO_REPO_URL (e.g. https://github.com/o/r/blob/main)
    or, on a Hugging Face Space, the Space's own file view. None when neither is known."""
    base = os.environ.get("SIGNDEMO_REPO_URL")
    if base:
        return f"{base.rstrip('/')}/{relpath}"
    space = os.environ.get("SPACE_ID")
    if space:
        return f"https://huggingface.co/spaces/{space}/blob/main/{relpath}"
    return None


def script_help(script: Script) -> str:
    """The script's argparse help (imports the module; scripts build their parser without side effects)."""
    try:
        module = importlib.import_module(script.module)
        parser = module.get_args_parser()
        parser.prog = f"python -m {script.module}"
        return parser.format_help()
    except Exception as exc:  # a script without get_args_parser, or a missing optional dependency
        return f"(no argparse help available: {type(exc).__name__}: {exc})"
