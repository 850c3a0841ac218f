"""deploy/kubernetes: strict schema validation, kustomize renders, and agreement with the app.

No cluster runs here. What is checked: every rendered object against the official schemas of
Kubernetes (kubernetes-validate, strict: unknown fields fail), that the base and the overlay
render with `kubectl kustomize`, that probe paths answer 200 on a real server, that ports agree
with the settings and the Dockerfile, the security context, draining, and that resources equal
the figures `benchmarks/capacity.py` wrote.
"""

from __future__ import annotations

import json

import kubernetes_validate
import pytest

from mnist_serve.config import load_settings
from tests.conftest import ROOT
from tests.deploy import (
    KSERVE,
    KUBERNETES_VERSION,
    KUSTOMIZATIONS,
    bind_port,
    env_of,
    kustomize,
    load_all,
    probes,
    resolve_port,
)
from tests.dockerfile import parse

RENDERED = {d.relative_to(ROOT).as_posix(): kustomize(d) for d in KUSTOMIZATIONS}
CAPACITY = ROOT / "benchmarks" / "results" / "capacity.json"


def objects(kind: str, render: str = "deploy/kubernetes/overlays/production") -> list[dict]:
    return [doc for doc in RENDERED[render] if doc["kind"] == kind]


def deployment() -> dict:
    [dep] = objects("Deployment")
    return dep


def container() -> dict:
    [c] = deployment()["spec"]["template"]["spec"]["containers"]
    return c


@pytest.mark.parametrize(
    "render, doc",
    [(r, d) for r, docs in RENDERED.items() for d in docs],
    ids=lambda v: v if isinstance(v, str) else f"{v['kind']}/{v['metadata']['name']}",
)
def test_every_object_validates_strictly(render, doc):
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_a_typo_fails_strict_validation():
    """The check can fail: an unknown field in the pod spec is rejected."""
    bad = json.loads(json.dumps(deployment()))
    bad["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


def test_base_and_overlay_render_the_four_objects():
    for docs in RENDERED.values():
        kinds = {d["kind"] for d in docs}
        assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"} <= kinds
    overlay = RENDERED["deploy/kubernetes/overlays/production"]
    assert {d["metadata"].get("namespace") for d in overlay if d["kind"] != "Namespace"} == {
        "mnist-serve"
    }
    assert container()["image"] == "registry.example.com/mnist-serve:0.1.0"
    [hpa] = objects("HorizontalPodAutoscaler")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 20)


def test_selectors_and_targets_meet():
    dep = deployment()
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()
    [svc] = objects("Service")
    assert svc["spec"]["selector"].items() <= labels.items()
    [pdb] = objects("PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    [hpa] = objects("HorizontalPodAutoscaler")
    ref = hpa["spec"]["scaleTargetRef"]
    assert (ref["kind"], ref["name"]) == ("Deployment", dep["metadata"]["name"])
    [metric] = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["type"] == "Utilization"
    # The HPA owns the replica count; a Deployment that set one would fight it on every apply.
    assert "replicas" not in dep["spec"]


def test_ports_agree_with_settings_service_and_image(monkeypatch):
    c = container()
    for name, value in env_of(c).items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    port = int(settings.bind.rsplit(":", 1)[1])
    assert port == bind_port(c) == resolve_port(c, "http")
    assert settings.workers == int(env_of(c)["MNIST_SERVE_WORKERS"])
    [svc] = objects("Service")
    assert resolve_port(c, svc["spec"]["ports"][0]["targetPort"]) == port
    for probe in probes(c).values():
        assert resolve_port(c, probe["port"]) == port
    annotations = deployment()["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == port
    _, runtime = parse()
    assert runtime.expose == [port]
    assert str(settings.model_dir) == parse()[1].env["MNIST_SERVE_MODEL_DIR"]


@pytest.mark.parametrize("which", ["kubernetes", "kserve"])
def test_slow_clients_get_async_workers(monkeypatch, which):
    """A trickling client must hold a greenlet, not one of the pod's few sync workers."""
    if which == "kubernetes":
        c = container()
    else:
        [runtime] = [d for p in KSERVE for d in load_all(p) if d["kind"] == "ServingRuntime"]
        [c] = runtime["spec"]["containers"]
    for name, value in env_of(c).items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.gunicorn_worker_class() == "mnist_serve.workers.GeventWorker"


def test_probe_paths_are_routes_the_server_answers(server):
    paths = {p["path"] for p in probes(container()).values()}
    assert paths == {"/health/live", "/health/ready"}
    for path in paths:
        assert server.get(path).status_code == 200, path


def test_scrape_path_is_served(server):
    path = deployment()["spec"]["template"]["metadata"]["annotations"]["prometheus.io/path"]
    response = server.get(path)
    assert response.status_code == 200
    assert "text/plain" in response.headers["Content-Type"]


def test_pod_runs_non_root_read_only_without_capabilities():
    pod = deployment()["spec"]["template"]["spec"]
    c = container()
    uid, _, gid = parse()[1].user.partition(":")
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (
        int(uid),
        int(gid),
    )
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    # The one writable place: an emptyDir at $TMPDIR (Gunicorn's heartbeat files, metrics).
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    tmp = env_of(c)["TMPDIR"]
    assert "emptyDir" in volumes[mounts[tmp]]


def test_termination_drains_requests_in_flight():
    """preStop sleep (endpoints stop sending) + Gunicorn's graceful stop fit in the grace period."""
    from mnist_serve import gunicorn_conf

    pod = deployment()["spec"]["template"]["spec"]
    pre_stop = container()["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pre_stop >= 5
    assert pod["terminationGracePeriodSeconds"] > pre_stop + gunicorn_conf.graceful_timeout
    strategy = deployment()["spec"]["strategy"]["rollingUpdate"]
    assert strategy["maxUnavailable"] == 0


def test_resources_are_the_measured_ones():
    """Requests and limits equal what benchmarks/capacity.py recommends from its measurement."""
    recommended = json.loads(CAPACITY.read_text())["recommended"]
    resources = container()["resources"]
    assert resources == {
        "requests": {"cpu": recommended["cpu_request"], "memory": recommended["memory_request"]},
        "limits": {"cpu": recommended["cpu_limit"], "memory": recommended["memory_limit"]},
    }, f"copy {CAPACITY.name}'s `recommended` into deploy/kubernetes/base/deployment.yaml"
    assert int(env_of(container())["MNIST_SERVE_WORKERS"]) == recommended["workers"]
