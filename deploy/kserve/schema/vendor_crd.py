"""Vendor the parts of KServe's CRD schemas that deploy/kserve/*.yaml use, for tests offline.

    python deploy/kserve/schema/vendor_crd.py /path/to/kserve-checkout

reads config/crd/full/serving.kserve.io_<plural>.yaml from a KServe checkout (Apache-2.0) and
writes <Kind>.<version>.json here: the CRD's openAPIV3Schema, cut down to the fields our
manifests set. Every object keeps the *names* of all its fields (unknown fields are still caught)
and its `required` list; the subtrees we do not use are replaced by {} to keep the files small.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
MANIFESTS = sorted(HERE.parent.glob("*.yaml"))
PLURALS = {"ServingRuntime": "servingruntimes", "InferenceService": "inferenceservices"}
KEEP = {
    "type",
    "required",
    "enum",
    "format",
    "anyOf",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
    "maxLength",
    "minimum",
    "maximum",
    "pattern",
}


def trim(schema: dict, value: object) -> dict:
    """The schema's constraints for `value`; siblings of used fields kept as names only."""
    out = {k: v for k, v in schema.items() if k in KEEP}
    if "properties" in schema:
        used = value if isinstance(value, dict) else {}
        out["properties"] = {
            name: trim(sub, used[name]) if name in used else {}
            for name, sub in schema["properties"].items()
        }
    if "additionalProperties" in schema and isinstance(value, dict):
        sub = schema["additionalProperties"]
        out["additionalProperties"] = sub if isinstance(sub, bool) else trim(sub, {})
    if "items" in schema:
        items = value if isinstance(value, list) else []
        merged: dict = {}
        for item in items:
            merged = _merge(merged, trim(schema["items"], item))
        out["items"] = merged or {k: v for k, v in schema["items"].items() if k in KEEP}
    return out


def _merge(a: dict, b: dict) -> dict:
    if not a:
        return b
    out = dict(a)
    for name, sub in b.get("properties", {}).items():
        out.setdefault("properties", {})[name] = _merge(out["properties"].get(name, {}), sub)
    return out


def main(checkout: Path) -> None:
    commit = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    for manifest in MANIFESTS:
        doc = yaml.safe_load(manifest.read_text())
        source = f"config/crd/full/serving.kserve.io_{PLURALS[doc['kind']]}.yaml"
        crd = yaml.safe_load((checkout / source).read_text())
        _group, version = doc["apiVersion"].split("/")
        [entry] = [v for v in crd["spec"]["versions"] if v["name"] == version]
        schema = trim(entry["schema"]["openAPIV3Schema"], doc)
        schema["$comment"] = (
            f"Trimmed from kserve/kserve {source} at commit {commit or 'unknown'} "
            f"(Apache-2.0, Copyright The KServe Authors) by deploy/kserve/schema/vendor_crd.py."
        )
        out = HERE / f"{doc['kind']}.{version}.json"
        out.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
        print(f"{out.name}: {out.stat().st_size:,} bytes from {source}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
