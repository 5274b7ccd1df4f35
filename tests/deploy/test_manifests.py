"""The deployment files validate offline: Kubernetes manifests against the API schemas that
kubernetes-validate ships, the compose file against the compose-spec schema that
check-jsonschema vendors; and every deployment starts the same process types as `pushflow up`."""

from __future__ import annotations

import copy
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
COMPOSE = REPO / "deploy" / "compose" / "docker-compose.yml"
K8S_VERSION = "1.37.0"
WORKER_TYPES = ("worker-fcm", "worker-apns", "dlr", "webhooks")


def k8s_documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") != "Kustomization":
                docs.append((path.name, doc))
    return docs


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _, d in k8s_documents() if d["kind"] == kind}


@pytest.mark.parametrize(("filename", "doc"), k8s_documents(),
                         ids=lambda v: v if isinstance(v, str) else v.get("kind", "?"))
def test_k8s_manifest_validates(filename: str, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_validator_rejects_a_broken_manifest() -> None:
    deployment = copy.deepcopy(by_kind("Deployment")["pushflow-api"])
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"][
        "prot"] = 8080
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in K8S.glob("*.yaml")
                                    if p.name != "kustomization.yaml")


def test_each_worker_type_has_deployment_hpa_pdb_probes_and_requests() -> None:
    deployments, hpas, pdbs = by_kind("Deployment"), by_kind("HorizontalPodAutoscaler"), by_kind(
        "PodDisruptionBudget")
    for name in ("api", *WORKER_TYPES):
        full = f"pushflow-{name}"
        assert full in hpas and full in pdbs, name
        container = deployments[full]["spec"]["template"]["spec"]["containers"][0]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert {"configMapRef": {"name": "pushflow-settings"}} in container["envFrom"]
        assert {"secretRef": {"name": "pushflow-secrets"}} in container["envFrom"]
        # The multiprocess metrics folder must exist where it is named: an emptyDir per pod.
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
        assert env.get("PROMETHEUS_MULTIPROC_DIR") in mounts, name
    assert "PROMETHEUS_MULTIPROC_DIR" not in by_kind("ConfigMap")["pushflow-settings"]["data"]
    assert by_kind("Deployment")["pushflow-beat"]["spec"]["replicas"] == 1
    assert "pushflow-migrate" in by_kind("Job")
    assert by_kind("Secret")["pushflow-secrets"]["stringData"].keys() >= {
        "PUSHFLOW_DATABASE_URL", "PUSHFLOW_REDIS_URL", "PUSHFLOW_SECRET_KEY"}


def compose_schema() -> dict[str, Any]:
    text = (resources.files("check_jsonschema.builtin_schemas.vendor")
            / "compose-spec.json").read_text()
    return dict(yaml.safe_load(text))


def test_compose_file_validates_against_the_compose_spec() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    jsonschema.validate(compose, compose_schema())
    broken = copy.deepcopy(compose)
    broken["services"]["api"]["healthcheck"]["interval"] = ["not", "a", "duration"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, compose_schema())


def test_compose_runs_every_part_with_health_checks_and_persistence() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert {"api", *WORKER_TYPES, "pacer", "beat", "flower", "redis", "postgres",
            "migrate"} <= set(
        services)
    for name in ("api", *WORKER_TYPES, "flower", "redis", "postgres"):
        assert "healthcheck" in services[name], name
    assert "--appendonly" in services["redis"]["command"]
    assert any("/var/lib/postgresql/data" in v for v in services["postgres"]["volumes"])
    assert services["api"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully")


def test_compose_reads_the_env_file_the_sample_is_copied_to() -> None:
    sample = REPO / "deploy" / "pushflow.env.sample"
    anchor = yaml.safe_load(COMPOSE.read_text())["x-pushflow"]
    read = {(COMPOSE.parent / entry["path"]).resolve() for entry in anchor["env_file"]}
    assert read == {sample.with_suffix("")}
    assert f"cp deploy/{sample.name} deploy/{sample.stem}" in COMPOSE.read_text()


def test_the_image_holds_every_package_the_project_installs() -> None:
    import tomllib

    includes = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"]["find"]["include"]
    installed = {pattern.rstrip("*") for pattern in includes}
    copied = set(re.findall(r"^COPY (\w+) \1$", (REPO / "Dockerfile").read_text(), re.M))
    assert copied == installed
    on_disk = {p.parent.name for p in REPO.glob("*/__init__.py")} - {"tests"}
    assert on_disk <= installed, "a package setuptools would leave out"


def test_paas_procfile_matches_the_process_types() -> None:
    entries = dict(line.split(":", 1) for line in (REPO / "Procfile").read_text().splitlines()
                   if re.match(r"^[a-z-]+:", line))
    assert set(entries) == {"release", "web", *WORKER_TYPES, "pacer", "beat"}
    assert entries["release"].strip() == "pushflow migrate"
    assert "$PORT" in entries["web"] or "${PORT" in entries["web"]


def test_env_sample_is_generated_from_the_settings() -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(REPO / "deploy" / "gen_env_sample.py"),
                           "--check"], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    sample = (REPO / "deploy" / "pushflow.env.sample").read_text()
    from shared.observability.config import ObservabilitySettings
    from shared.settings import Settings

    for cls in (Settings, ObservabilitySettings):
        for name in cls.model_fields:
            assert f"#PUSHFLOW_{name.upper()}=" in sample, name


def test_alert_rules_use_only_catalogued_metrics() -> None:
    from shared.observability import metrics

    known = set()
    for value in vars(metrics).values():
        name = getattr(value, "_name", None)
        if isinstance(name, str):
            known |= {name, f"{name}_total", f"{name}_bucket", f"{name}_count"}
    known.add("pushflow_queue_depth")  # collected at scrape time (exporter.QueueDepthCollector)
    rules = yaml.safe_load((REPO / "deploy" / "prometheus" / "alerts.yml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    assert exprs
    for expr in exprs:
        for used in re.findall(r"\bpushflow_[a-z_]+", expr):
            assert used in known, f"{used} is not in shared/observability/metrics.py"


def test_send_and_dlr_workers_emit_task_events_everywhere() -> None:
    """Task events are switched on per worker command (Flower shows sends only with them), so
    each way of deploying must pass the flag: --events for send workers, -E for the DLR."""
    wanted = {"worker-fcm": "--events", "worker-apns": "--events", "dlr": "-E"}
    procfile = dict(line.split(":", 1) for line in (REPO / "Procfile").read_text().splitlines()
                    if re.match(r"^[a-z-]+:", line))
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    deployments = by_kind("Deployment")
    for name, flag in wanted.items():
        assert flag in procfile[name].split(), f"Procfile {name}"
        assert flag in services[name]["command"], f"compose {name}"
        container = deployments[f"pushflow-{name}"]["spec"]["template"]["spec"]["containers"][0]
        assert flag in container["command"], f"k8s {name}"
