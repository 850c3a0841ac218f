"""Compare two OpenAPI documents key by key: what was added, removed or changed.

    python scripts/openapi_diff.py before.json after.json       # two saved documents
    python scripts/openapi_diff.py before.json                  # against this checkout's document
    python scripts/openapi_diff.py --resolve before.json        # what validates: refs inlined

Each line is a JSON path (`components.schemas.Image.oneOf[0].items`) with the old and new value:
+ added, - removed, ~ changed. Lists of dicts are compared index by index. With `--resolve`, every
`$ref` to a schema is replaced by the schema it names and prose (descriptions, examples,
summaries) is left out, so moving a part into its own component or adding a description shows
no difference: only changes to what is accepted and answered remain.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

CLIP = 110


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= CLIP else text[: CLIP - 3] + "..."


def diff(old: Any, new: Any, path: str = "") -> list[tuple[str, str, str]]:
    """(kind, path, detail) for every difference; kind is +, - or ~."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(old.keys() | new.keys(), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in new:
                out.append(("-", sub, _short(old[key])))
            elif key not in old:
                out.append(("+", sub, _short(new[key])))
            else:
                out.extend(diff(old[key], new[key], sub))
        return out
    if isinstance(old, list) and isinstance(new, list) and old != new:
        if all(isinstance(v, dict | list) for v in old + new):
            out = [
                d
                for i, (a, b) in enumerate(zip(old, new, strict=False))
                for d in diff(a, b, f"{path}[{i}]")
            ]
            out += [("-", f"{path}[{i}]", _short(v)) for i, v in enumerate(old) if i >= len(new)]
            out += [("+", f"{path}[{i}]", _short(v)) for i, v in enumerate(new) if i >= len(old)]
            return out
        return [("~", path, f"{_short(old)}  ->  {_short(new)}")]
    if old != new or type(old) is not type(new):
        return [("~", path, f"{_short(old)}  ->  {_short(new)}")]
    return []


def resolve(doc: dict[str, Any]) -> dict[str, Any]:
    """The document with every `#/components/schemas/...` reference inlined (none is recursive)."""
    schemas = doc.get("components", {}).get("schemas", {})

    def inline(node: Any) -> Any:
        if isinstance(node, list):
            return [inline(v) for v in node]
        if not isinstance(node, dict):
            return node
        target = node.get("$ref", "")
        if isinstance(target, str) and target.startswith("#/components/schemas/"):
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return {**inline(schemas[target.rsplit("/", 1)[-1]]), **inline(rest)}
        return {k: inline(v) for k, v in node.items()}

    return inline(doc)


PROSE = {"description", "examples", "summary"}


def _strip(node: Any) -> Any:
    """`node` without prose (descriptions, examples, summaries): only what validates is left."""
    if isinstance(node, list):
        return [_strip(v) for v in node]
    if isinstance(node, dict):
        return {
            k: _strip(v) for k, v in node.items() if k not in PROSE or not isinstance(v, str | list)
        }
    return node


def current_document() -> dict[str, Any]:
    """This checkout's document, built in-process from the shipped models and default settings."""
    from mnist_serve.config import load_settings
    from mnist_serve.http.openapi import build_document
    from mnist_serve.runtime import ModelRegistry

    models = Path(__file__).resolve().parents[1] / "models"
    settings = load_settings(model_dir=models)
    return build_document(ModelRegistry.load(models), settings.max_batch)


def main(argv: list[str]) -> int:
    resolved = "--resolve" in argv
    argv = [a for a in argv if a != "--resolve"]
    if len(argv) not in (2, 3):
        print("\n".join(__doc__.strip().splitlines()[2:5]), file=sys.stderr)
        return 2
    old = json.loads(Path(argv[1]).read_text())
    new = json.loads(Path(argv[2]).read_text()) if len(argv) == 3 else current_document()
    new = json.loads(json.dumps(new))
    if resolved:  # what is accepted and answered: refs inlined, prose left out
        old, new = (_strip(resolve(d)) for d in (old, new))
        old_schemas, new_schemas = (d["components"].pop("schemas") for d in (old, new))
        changes = diff(old, new)
        changes += [
            ("+", f"components.schemas.{k}", "(new component)")
            for k in sorted(new_schemas.keys() - old_schemas.keys())
        ]
        for name in old_schemas:
            changes += diff(old_schemas[name], new_schemas.get(name), f"components.schemas.{name}")
    else:
        changes = diff(old, new)
    for kind, path, detail in changes:
        print(f"{kind} {path}: {detail}")
    counts = {k: sum(1 for c in changes if c[0] == k) for k in "+-~"}
    print(f"# {counts['+']} added, {counts['-']} removed, {counts['~']} changed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
