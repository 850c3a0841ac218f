"""deploy/kserve: the objects against KServe's own CRD schemas, and the runtime against the app.

No cluster runs here, so KServe's controller never sees these objects. What is checked: each
object against the openAPIV3Schema of KServe's CRD (vendored, trimmed, in deploy/kserve/schema/;
unknown fields fail as with `kubectl apply --validate=strict`), the fields KServe needs to pair
them (runtime name, model format, protocol v2, `kserve-container`), the runtime's container as a
core/v1 Container against the Kubernetes schemas, and a real server started with the runtime's
environment on a read-only copy of the repository at a `mnt/models` path answering V2 infer.
"""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest

from tests.conftest import MODELS, ROOT, start_server, stop_server
from tests.deploy import (
    DEPLOY,
    KSERVE,
    KUBERNETES_VERSION,
    bind_port,
    env_of,
    load_all,
    probes,
    resolve_port,
)

SCHEMAS = DEPLOY / "kserve" / "schema"
OBJECTS = {doc["kind"]: doc for path in KSERVE for doc in load_all(path)}
KSERVE_MODEL_MOUNT = "/mnt/models"


def strict(schema: dict) -> dict:
    """Unknown fields fail, as Kubernetes' strict field validation does for structural schemas."""
    schema = copy.deepcopy(schema)

    def visit(node: dict) -> None:
        if "properties" in node:
            if not node.get("x-kubernetes-preserve-unknown-fields"):
                node.setdefault("additionalProperties", False)
            for sub in node["properties"].values():
                visit(sub)
        if isinstance(node.get("items"), dict):
            visit(node["items"])

    visit(schema)
    return schema


def schema_for(doc: dict) -> dict:
    version = doc["apiVersion"].split("/")[1]
    return strict(json.loads((SCHEMAS / f"{doc['kind']}.{version}.json").read_text()))


def runtime_container() -> dict:
    [c] = OBJECTS["ServingRuntime"]["spec"]["containers"]
    return c


@pytest.mark.parametrize("kind", ["ServingRuntime", "InferenceService"])
def test_objects_match_kserve_crd_schema(kind):
    doc = OBJECTS[kind]
    assert doc["apiVersion"].startswith("serving.kserve.io/")
    assert doc["metadata"]["name"]
    jsonschema.validate(doc, schema_for(doc))


def test_schema_check_can_fail():
    bad = copy.deepcopy(OBJECTS["InferenceService"])
    bad["spec"]["predictor"]["model"]["protocolVersion"] = 2  # a number, not "v2"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema_for(bad))
    del bad["spec"]["predictor"]
    with pytest.raises(jsonschema.ValidationError):  # `predictor` is required
        jsonschema.validate(bad, schema_for(bad))


def test_vendored_schemas_name_their_source_and_licence():
    for path in SCHEMAS.glob("*.json"):
        comment = json.loads(path.read_text())["$comment"]
        assert "kserve/kserve config/crd/full/" in comment and "Apache-2.0" in comment


def test_inference_service_uses_the_runtime_with_protocol_v2():
    runtime, isvc = OBJECTS["ServingRuntime"], OBJECTS["InferenceService"]
    model = isvc["spec"]["predictor"]["model"]
    assert model["runtime"] == runtime["metadata"]["name"]
    assert model["modelFormat"]["name"] in {
        f["name"] for f in runtime["spec"]["supportedModelFormats"]
    }
    assert model["protocolVersion"] == "v2" and "v2" in runtime["spec"]["protocolVersions"]
    assert model["storageUri"]
    # KServe runs the runtime container named kserve-container and routes to its port.
    assert runtime_container()["name"] == "kserve-container"


def test_runtime_container_is_a_valid_kubernetes_container():
    runtime = OBJECTS["ServingRuntime"]["spec"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "mnist-serve-runtime-check"},
        "spec": {"containers": runtime["containers"], "volumes": runtime.get("volumes", [])},
    }
    kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)


def test_runtime_ports_model_dir_and_resources():
    c = runtime_container()
    env = env_of(c)
    assert env["MNIST_SERVE_MODEL_DIR"] == KSERVE_MODEL_MOUNT
    port = bind_port(c)
    assert [p["containerPort"] for p in c["ports"]] == [port]
    assert {resolve_port(c, p["port"]) for p in probes(c).values()} == {port}
    annotations = OBJECTS["ServingRuntime"]["spec"]["annotations"]
    assert int(annotations["prometheus.kserve.io/port"]) == port
    recommended = json.loads((ROOT / "benchmarks/results/capacity.json").read_text())["recommended"]
    assert c["resources"]["requests"] == {
        "cpu": recommended["cpu_request"],
        "memory": recommended["memory_request"],
    }
    assert c["resources"]["limits"] == {
        "cpu": recommended["cpu_limit"],
        "memory": recommended["memory_limit"],
    }
    sc = c["securityContext"]
    assert sc["runAsNonRoot"] and sc["readOnlyRootFilesystem"]
    assert not sc["allowPrivilegeEscalation"] and sc["capabilities"]["drop"] == ["ALL"]


@pytest.fixture(scope="module")
def mounted_runtime():
    """The server as KServe would start it: the runtime's env, the repository at mnt/models."""
    root = Path(tempfile.mkdtemp(prefix="mnist-kserve-"))
    mount = root / KSERVE_MODEL_MOUNT.lstrip("/")
    shutil.copytree(MODELS, mount)
    for path in [mount, *mount.rglob("*")]:
        path.chmod(0o555)  # KServe mounts the storage read-only
    env = {k: v for k, v in env_of(runtime_container()).items() if k != "MNIST_SERVE_BIND"}
    env["MNIST_SERVE_MODEL_DIR"] = str(mount)
    server = start_server(env, model_dir=mount)
    yield server
    stop_server(server)
    for path in [mount, *mount.rglob("*")]:
        path.chmod(0o755)
    shutil.rmtree(root)


def test_runtime_probe_paths_are_served(mounted_runtime):
    for probe in probes(runtime_container()).values():
        assert mounted_runtime.get(probe["path"]).status_code == 200, probe["path"]


def test_runtime_answers_v2_infer_from_the_mount(mounted_runtime, example_pixels):
    body = {
        "inputs": [
            {"name": "pixels", "shape": [1, 784], "datatype": "UINT8", "data": example_pixels}
        ]
    }
    for model in ("mlp", "xgboost"):
        response = mounted_runtime.post(f"/v2/models/{model}/infer", json.dumps(body))
        assert response.status_code == 200, response.text
        outputs = {o["name"]: o["data"] for o in response.json()["outputs"]}
        assert outputs["label"] == [5]
    assert mounted_runtime.get("/v2/health/ready").status_code == 200
