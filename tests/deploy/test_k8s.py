"""The Kubernetes manifests: valid against the schemas, and consistent with the real services."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from inference_service.server import build_parser as inference_parser
from maskscope.flags import env_name
from web_client.__main__ import build_parser as web_parser

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
MANIFESTS = sorted(K8S.rglob("*.yaml"))
KUBERNETES_VERSION = "1.33.0"


def documents(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def find(kind: str, name: str, folder: str = "common") -> dict:
    for path in sorted((K8S / folder).glob("*.yaml")):
        for doc in documents(path):
            if doc["kind"] == kind and doc["metadata"]["name"] == name:
                return doc
    raise LookupError(f"no {kind} {name} in {folder}")


def flag_envs(parser) -> set[str]:
    return {env_name(s) for a in parser._actions for s in a.option_strings if s.startswith("--") and s != "--help"}


def container(deployment: dict) -> dict:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


@pytest.mark.parametrize("path", MANIFESTS, ids=[str(p.relative_to(K8S)) for p in MANIFESTS])
def test_manifest_validates_against_the_kubernetes_schemas(path):
    result = subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict", "-k", KUBERNETES_VERSION,
                             str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("variant", ["gpu", "cpu"])
def test_inference_deployment(variant):
    deployment = find("Deployment", "maskscope-inference", variant)
    pod = deployment["spec"]["template"]["spec"]
    main = container(deployment)
    config = find("ConfigMap", "maskscope-inference")["data"]
    grpc_port = int(config["MASKSCOPE_PORT"])
    ports = {p["name"]: p["containerPort"] for p in main["ports"]}
    assert ports["grpc"] == grpc_port and ports["metrics"] == int(config["MASKSCOPE_METRICS_PORT"])
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert main[probe]["grpc"]["port"] == grpc_port, probe  # the real health service's port
    gpus = main["resources"]["limits"].get("nvidia.com/gpu")
    assert (gpus == 1) if variant == "gpu" else gpus is None
    assert main["resources"]["requests"]["cpu"] and main["resources"]["limits"]["memory"]
    security = main["securityContext"]
    assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"]
    assert security["capabilities"]["drop"] == ["ALL"] and pod["securityContext"]["runAsNonRoot"]
    assert main["envFrom"][0]["configMapRef"]["name"] == "maskscope-inference"
    grace = float(config["MASKSCOPE_GRACE_PERIOD_S"])
    assert pod["terminationGracePeriodSeconds"] > grace, "in-flight requests must finish before the kill"
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/port"] == str(ports["metrics"])


def test_every_env_name_is_a_real_flag():
    inference, web = flag_envs(inference_parser()), flag_envs(web_parser())
    config = find("ConfigMap", "maskscope-inference")["data"]
    assert set(config) <= inference, set(config) - inference
    for variant in ("gpu", "cpu"):
        names = {e["name"] for e in container(find("Deployment", "maskscope-inference", variant))["env"]}
        assert names <= inference, names - inference
    web_names = {e["name"] for e in container(find("Deployment", "maskscope-web"))["env"]}
    # Secrets the web app reads from the environment only (a flag would show them in process listings).
    assert web_names - {"MASKSCOPE_SECRET_KEY", "MASKSCOPE_ADMIN_TOKEN"} <= web, web_names - web


def test_inference_service_is_headless_and_the_web_app_dials_it_with_dns():
    service = find("Service", "maskscope-inference")
    assert service["spec"]["clusterIP"] == "None"
    env = {e["name"]: e.get("value") for e in container(find("Deployment", "maskscope-web"))["env"]}
    assert env["MASKSCOPE_INFERENCE_ADDR"] == "dns:///maskscope-inference:50051"
    grpc_port = {p["name"]: p["port"] for p in service["spec"]["ports"]}["grpc"]
    assert env["MASKSCOPE_INFERENCE_ADDR"].endswith(f":{grpc_port}")


def test_pdb_hpa_and_ingress_point_at_the_right_things():
    pdb = find("PodDisruptionBudget", "maskscope-inference")
    labels = find("Deployment", "maskscope-inference", "gpu")["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    hpa = find("HorizontalPodAutoscaler", "maskscope-inference")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "maskscope-inference"
    ingress = find("Ingress", "maskscope")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "maskscope-web"
    assert int(ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600


def test_the_web_app_keeps_studies_in_the_postgres_statefulset():
    web = {e["name"]: e for e in container(find("Deployment", "maskscope-web"))["env"]}
    assert web["MASKSCOPE_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "maskscope", "key": "database-url"}
    postgres = find("StatefulSet", "maskscope-postgres")
    pod = postgres["spec"]["template"]["spec"]
    main = pod["containers"][0]
    assert main["image"].startswith("postgres:") and postgres["spec"]["volumeClaimTemplates"]
    assert {m["mountPath"] for m in main["volumeMounts"]} >= {"/var/lib/postgresql/data"}
    service = find("Service", "maskscope-postgres")
    assert service["spec"]["selector"].items() <= postgres["spec"]["template"]["metadata"]["labels"].items()
    assert {p["port"] for p in service["spec"]["ports"]} == {5432}


def pod_labels(kind: str, name: str, folder: str = "common") -> dict:
    return find(kind, name, folder)["spec"]["template"]["metadata"]["labels"]


def selects(selector: dict, labels: dict) -> bool:
    return selector.get("matchLabels", {}).items() <= labels.items()


def test_network_policies_let_only_the_web_pods_reach_the_inference_service():
    web, postgres = pod_labels("Deployment", "maskscope-web"), pod_labels("StatefulSet", "maskscope-postgres")
    inference = pod_labels("Deployment", "maskscope-inference", "gpu")
    policy = find("NetworkPolicy", "maskscope-inference")
    assert selects(policy["spec"]["podSelector"], inference) and not selects(policy["spec"]["podSelector"], web)
    grpc_port = {p["name"]: p["targetPort"] for p in find("Service", "maskscope-inference")["spec"]["ports"]}["grpc"]
    grpc_rules = [r for r in policy["spec"]["ingress"] if any(p["port"] == grpc_port for p in r["ports"])]
    assert len(grpc_rules) == 1 and grpc_rules[0]["from"] == [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "maskscope", "app.kubernetes.io/component": "web"}}}]
    assert selects(grpc_rules[0]["from"][0]["podSelector"], web)
    assert not selects(grpc_rules[0]["from"][0]["podSelector"], postgres)
    deny = find("NetworkPolicy", "maskscope-default-deny")
    assert deny["spec"]["podSelector"] == {} and set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    database = find("NetworkPolicy", "maskscope-postgres")
    assert selects(database["spec"]["podSelector"], postgres)
    assert selects(database["spec"]["ingress"][0]["from"][0]["podSelector"], web)
    web_egress = find("NetworkPolicy", "maskscope-web")["spec"]["egress"]
    assert [r["ports"][0]["port"] for r in web_egress] == [50051, 5432]
    assert find("Namespace", "maskscope")["metadata"]["name"] == "maskscope"


@pytest.mark.parametrize("kind, name, folder", [("Deployment", "maskscope-web", "common"),
                                                ("StatefulSet", "maskscope-postgres", "common"),
                                                ("Deployment", "maskscope-inference", "gpu"),
                                                ("Deployment", "maskscope-inference", "cpu")])
def test_every_pod_meets_the_namespaces_restricted_pod_security(kind, name, folder):
    assert find("Namespace", "maskscope")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    pod = find(kind, name, folder)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    for c in pod["containers"] + pod.get("initContainers", []):
        security = c["securityContext"]
        assert security["allowPrivilegeEscalation"] is False and security["capabilities"]["drop"] == ["ALL"], c["name"]
    assert not any("hostPath" in v for v in pod.get("volumes", []))
