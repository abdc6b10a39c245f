"""Regenerate tests/corpus/: real tracebacks from every CPython pyenv has.

Run with the project's Python: ``.venv/bin/python tests/gen_corpus.py``.

For every interpreter under /root/.pyenv/versions (2.7, 3.6 to 3.13) and
every scenario of the corpus app (tests/corpus/app.py) that the version can
run, a driver process raises the scenario's exception and

- prints it as that interpreter prints it, through ``logging.exception``
  ("log") and through the default ``sys.excepthook`` of an uncaught
  exception ("hook"; 3.13 also with colours forced, "hook-color"), and
- records, from the live exception object, what a parser must find: the
  chain (``__cause__``/``__context__``), each exception's type as that
  producer names it, its message (``str()``, notes included, or what the
  printer puts instead when ``str()`` fails), its frames from
  ``traceback.extract_tb`` (with CPython's collapsing of repeated frames),
  SyntaxError locations, and exception groups' sub-exceptions.

Each version's cases go to tests/corpus/cpython-<version>.json as
{"python", "cases": [{"scenario", "producer", "text", "expect"}]}. The
tests compare the parse of "text" with "expect" and need no interpreter.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus.app import APP_FILES  # noqa: E402

VERSIONS = (
    "2.7.18",
    "3.6.15",
    "3.7.16",
    "3.8.18",
    "3.9.18",
    "3.10.13",
    "3.11.7",
    "3.12.1",
    "3.13.0",
)
PYENV = Path("/root/.pyenv/versions")
# A fixed place, so that regenerating changes only what the interpreters do.
WORK = Path("/tmp/deployconsole-corpus")
OUT = Path(__file__).resolve().parent / "corpus"

DRIVER = r"""
# -*- coding: utf-8 -*-
import json
import logging
import os
import sys
import traceback

PY = sys.version_info
APP = sys.argv[1]
sys.path.insert(0, APP)
sys.path.insert(0, os.path.join(APP, "m\xc3\xb3dulos" if PY[0] == 2 else "módulos"))

GROUP_WIDTH = 15
CUTOFF = 3


def text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def modules():
    from shop import common
    found = [common]
    if PY >= (3, 6):
        from shop import modern
        found.append(modern)
    if PY >= (3, 11):
        from shop import groups
        found.append(groups)
    return found


def scenarios():
    out = {}
    for module in modules():
        for fn in module.SCENARIOS:
            name = fn.__name__
            if name.startswith("suggestion_") and PY < (3, 10):
                continue
            out[module.__name__.split(".")[-1] + ":" + name] = fn
    return out


def type_name(exc, producer):
    kind = type(exc)
    if PY[0] == 2:
        if producer == "log":
            return kind.__name__
        module = kind.__module__
        return kind.__name__ if module == "exceptions" else module + "." + kind.__name__
    module = kind.__module__
    # The C excepthook named the class by __name__ before 3.9.
    name = kind.__qualname__ if (producer == "log" or PY >= (3, 9)) else kind.__name__
    if module in ("builtins", "__main__"):
        return name
    return module + "." + name


def message(exc, producer):
    if isinstance(exc, SyntaxError):
        base = text(exc.msg) or ""
    else:
        try:
            base = text(str(exc))
        except Exception:
            if PY >= (3, 11) or producer != "log":
                base = "<exception str() failed>"
            else:
                base = "<unprintable %s object>" % type(exc).__name__
    notes = getattr(exc, "__notes__", None)
    if notes:
        base = "\n".join([base] + [text(str(n)) for n in notes])
    return base


def frames(tb):
    out = []
    for summary in traceback.extract_tb(tb):
        if PY[0] == 2:
            filename, lineno, name, line = summary
        else:
            filename, lineno, name, line = (summary.filename, summary.lineno,
                                            summary.name, summary.line)
        item = {"file": text(filename), "line": lineno, "function": text(name),
                "source": text(line).strip() if line else None}
        if PY >= (3, 13) and line and summary.colno is not None \
                and summary.end_colno is not None:
            lines = summary._dedented_lines.splitlines()
            span = lines[:summary.end_lineno - summary.lineno + 1]
            item["lines"] = "\n".join(l.rstrip() for l in span)
        out.append(item)
    if PY[0] == 2:
        return out
    # CPython prints a run of identical frames up to three times and counts
    # the rest in "[Previous line repeated N more times]".
    printed = []
    run = 0
    for item in out:
        key = (item["file"], item["line"], item["function"])
        if printed and key == (printed[-1]["file"], printed[-1]["line"],
                               printed[-1]["function"]):
            run += 1
        else:
            run = 1
        if run <= CUTOFF:
            printed.append(dict(item))
        else:
            printed[-1]["repeated"] = run - CUTOFF
    return printed


def describe(exc, producer, tb=None):
    info = {
        "type": type_name(exc, producer),
        "message": message(exc, producer),
        "frames": frames(getattr(exc, "__traceback__", None) or tb),
        "has_traceback_header": True,
        "relation_to_next": None,
    }
    if PY[0] == 3:
        info["has_traceback_header"] = exc.__traceback__ is not None
        if exc.__traceback__ is None:
            info["frames"] = []
    if isinstance(exc, SyntaxError):
        info["syntax_error"] = {
            "file": text(exc.filename) or "<string>",
            "line": exc.lineno,
            "source": text(exc.text).strip() if exc.text else None,
        }
    subs = getattr(exc, "exceptions", None)
    if PY >= (3, 11) and isinstance(exc, BaseExceptionGroup):
        info["sub_exceptions"] = [chain(sub, producer) for sub in subs[:GROUP_WIDTH]]
        info["more_sub_exceptions"] = max(len(subs) - GROUP_WIDTH, 0)
    return info


def chain(exc, producer, tb=None):
    if PY[0] == 2:
        return [describe(exc, producer, tb)]
    items = []
    seen = set()
    relation = None
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        item = describe(exc, producer)
        item["relation_to_next"] = relation
        items.append(item)
        if exc.__cause__ is not None:
            relation, exc = "cause", exc.__cause__
        elif exc.__context__ is not None and not exc.__suppress_context__:
            relation, exc = "context", exc.__context__
        else:
            exc = None
    items.reverse()
    return items


def main():
    producer = sys.argv[2]
    if producer == "list":
        print(json.dumps(sorted(scenarios())))
        return
    name = sys.argv[3]
    fn = scenarios()[name]
    if producer == "log":
        logging.basicConfig(stream=sys.stderr)
        try:
            fn()
        except BaseException:
            sys.setrecursionlimit(1000)
            exc, tb = sys.exc_info()[1:]
            logging.exception("Scenario %s failed", name)
            print(json.dumps({"preamble": "ERROR:root:Scenario %s failed" % name,
                              "exceptions": chain(exc, producer, tb)}))
        return

    def hook(kind, value, tb):
        sys.setrecursionlimit(1000)
        print(json.dumps({"preamble": None,
                          "exceptions": chain(value, producer, tb)}))
        sys.stdout.flush()
        sys.__excepthook__(kind, value, tb)

    sys.excepthook = hook
    fn()


main()
"""


def write_app() -> Path:
    if WORK.exists():
        shutil.rmtree(WORK)
    app = WORK / "app"
    for relative, source in APP_FILES.items():
        path = app / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    (WORK / "driver.py").write_text(DRIVER, encoding="utf-8")
    return app


def run(python: Path, *args: str, env: dict[str, str] | None = None) -> tuple[str, str]:
    base = {
        "PATH": "/usr/bin:/bin",
        "PYTHONIOENCODING": "utf-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "LANG": "C.UTF-8",
    }
    base.update(env or {})
    proc = subprocess.run(
        [str(python), str(WORK / "driver.py"), *args],
        capture_output=True,
        env=base,
        timeout=60,
        check=False,
    )
    return proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")


def producers(version: str) -> list[tuple[str, dict[str, str]]]:
    out: list[tuple[str, dict[str, str]]] = [("log", {}), ("hook", {})]
    if tuple(int(part) for part in version.split(".")) >= (3, 13):
        out.append(("hook-color", {"FORCE_COLOR": "1"}))
    return out


def main() -> int:
    app = write_app()
    OUT.mkdir(exist_ok=True)
    for version in VERSIONS:
        python = PYENV / version / "bin" / "python"
        if not python.exists():
            print(f"skipped {version}: {python} not found", file=sys.stderr)
            continue
        listing, errors = run(python, str(app), "list")
        if not listing.strip():
            print(f"{version}: listing failed:\n{errors}", file=sys.stderr)
            return 1
        cases = []
        for producer, env in producers(version):
            kind = "hook" if producer.startswith("hook") else producer
            for scenario in json.loads(listing):
                stdout, stderr = run(python, str(app), kind, scenario, env=env)
                if not stdout.strip():
                    print(f"{version} {producer} {scenario}: no record:\n{stderr}")
                    return 1
                cases.append(
                    {
                        "scenario": scenario,
                        "producer": producer,
                        "text": stderr.rstrip("\n"),
                        "expect": json.loads(stdout.strip().splitlines()[-1]),
                    }
                )
        target = OUT / f"cpython-{version}.json"
        document = {"python": version, "cases": cases}
        target.write_text(
            json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
        )
        print(f"{version}: {len(cases)} cases -> {target.relative_to(OUT.parent)}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
