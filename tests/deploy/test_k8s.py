"""The Kubernetes deployment, as `kubectl apply -k` would apply each overlay: rendered with
`kubectl kustomize`, valid against the schemas, and consistent with the real services."""

import functools
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from inference_service.settings import PRINT_ENV_SKIP
from inference_service.settings import build_parser as inference_parser
from maskscope.flags import FILE_SUFFIX, env_name, is_secret
from web_client.__main__ import build_parser as web_parser

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("gpu", "cpu")
SCAN_BIN = ROOT / ".venv-scan" / "bin"
KUBERNETES_VERSION = "1.33.0"
SELECTOR = {"app.kubernetes.io/name": "maskscope"}


def kubectl() -> str:
    path = SCAN_BIN / "kubectl"
    if not path.exists():
        pytest.fail(f"{path} is missing: `make scanners` installs the pinned kubectl (make test does)")
    return str(path)


def render(overlay: str, binary: str | None = None) -> str:
    """`overlay`: a name under overlays/, or a folder."""
    folder = K8S / "overlays" / overlay if "/" not in overlay else Path(overlay)
    result = subprocess.run([binary or kubectl(), "kustomize", str(folder)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


@functools.cache
def rendered(overlay: str) -> tuple[dict, ...]:
    return tuple(d for d in yaml.safe_load_all(render(overlay)) if d)


def find(kind: str, name: str, overlay: str = "gpu") -> dict:
    for doc in rendered(overlay):
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise LookupError(f"no {kind} {name} in overlays/{overlay}")


def inference_config(overlay: str) -> dict:
    (config,) = [d for d in rendered(overlay) if d["kind"] == "ConfigMap"
                 and d["metadata"]["name"].startswith("maskscope-inference-")]
    return config


def flag_envs(parser) -> set[str]:
    """The env twins of a parser's flags (a boolean's `--no-` spelling has none), and a secret
    flag's file twin."""
    flags = [a for a in parser._actions if a.option_strings[0].startswith("--") and a.option_strings[0] != "--help"]
    return ({env_name(a.option_strings[0]) for a in flags}
            | {env_name(a.option_strings[0]) + FILE_SUFFIX for a in flags if is_secret(a)})


def container(workload: dict) -> dict:
    (only,) = workload["spec"]["template"]["spec"]["containers"]
    return only


def pod_labels(kind: str, name: str, overlay: str = "gpu") -> dict:
    return find(kind, name, overlay)["spec"]["template"]["metadata"]["labels"]


def selects(selector: dict, labels: dict) -> bool:
    return selector.get("matchLabels", {}).items() <= labels.items()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_validates_against_the_kubernetes_schemas(overlay, tmp_path):
    manifest = tmp_path / f"{overlay}.yaml"
    manifest.write_text(render(overlay))
    result = subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict", "-k", KUBERNETES_VERSION,
                             str(manifest)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    kinds = {d["kind"] for d in rendered(overlay)}
    assert kinds >= {"Namespace", "NetworkPolicy", "ConfigMap", "Deployment", "StatefulSet", "Service", "Ingress",
                     "HorizontalPodAutoscaler", "PodDisruptionBudget"}


def test_the_machines_own_kubectl_renders_the_overlays_too():
    system = shutil.which("kubectl", path=os.environ.get("PATH", "").replace(str(SCAN_BIN), ""))
    if system is None:
        pytest.skip("no kubectl on this machine besides the pinned one")
    version = subprocess.run([system, "version", "--client"], capture_output=True, text=True).stdout
    if "Kustomize Version: v5" not in version:
        pytest.skip(f"this machine's kubectl has no kustomize 5 (components need it): {version.strip()}")
    for overlay in OVERLAYS:
        assert [d for d in yaml.safe_load_all(render(overlay, system)) if d] == list(rendered(overlay))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_lands_in_the_maskscope_namespace(overlay):
    for doc in rendered(overlay):
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == "maskscope"
        else:
            assert doc["metadata"].get("namespace") == "maskscope", (doc["kind"], doc["metadata"]["name"])
        assert doc["metadata"]["labels"].items() >= SELECTOR.items(), (doc["kind"], doc["metadata"]["name"])


def pinned_images() -> dict[str, dict]:
    component = yaml.safe_load((K8S / "images" / "kustomization.yaml").read_text())
    return {image["name"]: image for image in component["images"]}


def reference(image: dict) -> str:
    return image["newName"] + (f"@{image['digest']}" if "digest" in image else f":{image['newTag']}")


@pytest.mark.parametrize("overlay, inference_image", [("gpu", "maskscope-inference"),
                                                      ("cpu", "maskscope-inference-cpu")])
def test_every_image_comes_from_the_one_images_list(overlay, inference_image):
    images = pinned_images()
    used = {}
    for doc in rendered(overlay):
        pod = doc.get("spec", {}).get("template", {}).get("spec", {})
        for c in pod.get("containers", []) + pod.get("initContainers", []):
            used[doc["metadata"]["name"], c["name"]] = c["image"]
    assert used[("maskscope-inference", "inference")] == reference(images[inference_image])
    assert used[("maskscope-web", "web")] == reference(images["maskscope-web"])
    assert used[("maskscope-postgres", "postgres")] == reference(images["postgres"])
    assert set(used.values()) <= {reference(i) for i in images.values()}


def test_the_inference_config_map_holds_every_flag_and_is_current():
    """The ConfigMap's source is made by the service's own --print-env from the flags: every flag
    (but the token, which comes from a Secret) is there, and the file is what the command makes."""
    source = (K8S / "base" / "inference.env").read_text()
    command = source.splitlines()[0].split("`")[1]
    (flags,) = re.findall(r"^DEPLOY_FLAGS := (.+)$", (ROOT / "Makefile").read_text(), flags=re.M)
    assert command == f"python -m inference_service --print-env {flags}", "the Makefile's DEPLOY_FLAGS changed: run make deploy-config"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASKSCOPE_")}
    made = subprocess.run([sys.executable, *shlex.split(command)[1:]], capture_output=True, text=True,
                          env=env, cwd=ROOT, check=True).stdout
    assert made == source, "deploy/k8s/base/inference.env is stale: run make deploy-config"
    parser = inference_parser()
    settings = {env_name(a.option_strings[0]) for a in parser._actions if a.option_strings[0] not in PRINT_ENV_SKIP
                and a.option_strings[0] != "-h" and a.default is not None and not is_secret(a)}
    for overlay in OVERLAYS:
        data = inference_config(overlay)["data"]
        assert set(data) == settings and "MASKSCOPE_AUTH_TOKEN" not in data
        assert data["MASKSCOPE_HOST"] == "0.0.0.0" and data["MASKSCOPE_METRICS_PORT"] == "9090"
        (source_ref,) = container(find("Deployment", "maskscope-inference", overlay))["envFrom"]
        assert source_ref["configMapRef"]["name"] == inference_config(overlay)["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_inference_deployment(overlay):
    deployment = find("Deployment", "maskscope-inference", overlay)
    pod = deployment["spec"]["template"]["spec"]
    main = container(deployment)
    config = inference_config(overlay)["data"]
    grpc_port = int(config["MASKSCOPE_PORT"])
    ports = {p["name"]: p["containerPort"] for p in main["ports"]}
    assert ports["grpc"] == grpc_port and ports["metrics"] == int(config["MASKSCOPE_METRICS_PORT"])
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert main[probe]["grpc"]["port"] == grpc_port, probe  # the real health service's port
    env = {e["name"]: e.get("value") for e in main["env"]}
    gpus = main["resources"]["limits"].get("nvidia.com/gpu")
    if overlay == "gpu":
        assert gpus == 1 and env["MASKSCOPE_DEVICE"] == "cuda" and int(env["MASKSCOPE_WORKERS"]) > 1
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
        assert int(main["resources"]["limits"]["cpu"]) >= int(env["MASKSCOPE_WORKERS"]) + 1
    else:
        assert gpus is None and env["MASKSCOPE_DEVICE"] == "cpu" and "tolerations" not in pod
    assert main["resources"]["requests"]["cpu"] and main["resources"]["limits"]["memory"]
    security = main["securityContext"]
    assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"]
    assert security["capabilities"]["drop"] == ["ALL"] and pod["securityContext"]["runAsNonRoot"]
    grace = float(config["MASKSCOPE_GRACE_PERIOD_S"])
    assert pod["terminationGracePeriodSeconds"] > grace, "in-flight requests must finish before the kill"
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/port"] == str(ports["metrics"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_env_name_is_a_real_flag(overlay):
    inference, web = flag_envs(inference_parser()), flag_envs(web_parser())
    names = {e["name"] for e in container(find("Deployment", "maskscope-inference", overlay))["env"]}
    assert names <= inference, names - inference
    web_names = {e["name"] for e in container(find("Deployment", "maskscope-web", overlay))["env"]}
    # Secrets the web app reads from the environment only (a flag would show them in process listings).
    assert web_names - {"MASKSCOPE_SECRET_KEY_FILE", "MASKSCOPE_ADMIN_TOKEN_FILE"} <= web, web_names - web


def test_inference_service_is_headless_and_the_web_app_dials_it_with_dns():
    service = find("Service", "maskscope-inference")
    assert service["spec"]["clusterIP"] == "None"
    env = {e["name"]: e.get("value") for e in container(find("Deployment", "maskscope-web"))["env"]}
    assert env["MASKSCOPE_INFERENCE_ADDR"] == "dns:///maskscope-inference:50051"
    grpc_port = {p["name"]: p["port"] for p in service["spec"]["ports"]}["grpc"]
    assert env["MASKSCOPE_INFERENCE_ADDR"].endswith(f":{grpc_port}")


def test_pdb_hpa_and_ingress_point_at_the_right_things():
    pdb = find("PodDisruptionBudget", "maskscope-inference")
    assert selects(pdb["spec"]["selector"], pod_labels("Deployment", "maskscope-inference"))
    hpa = find("HorizontalPodAutoscaler", "maskscope-inference")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "maskscope-inference"
    ingress = find("Ingress", "maskscope")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "maskscope-web"
    assert int(ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_reach_the_pods_as_files_of_the_one_secret(overlay):
    """No secret in an environment variable; each *_FILE names a key of the `maskscope` Secret's
    volume, mounted read-only, readable by the pod's group only."""
    wanted = {"maskscope-web": {"secret-key", "inference-token", "database-url", "admin-token"},
              "maskscope-inference": {"inference-token"}, "maskscope-postgres": {"postgres-password"}}
    for name, keys in wanted.items():
        workload = find("StatefulSet" if name.endswith("postgres") else "Deployment", name, overlay)
        pod, main = workload["spec"]["template"]["spec"], container(workload)
        assert not any("valueFrom" in e for e in main["env"]) and not any("secretRef" in e for e in main.get("envFrom", []))
        (volume,) = [v for v in pod["volumes"] if "secret" in v]
        assert volume["secret"]["secretName"] == "maskscope" and volume["secret"]["defaultMode"] == 0o440
        assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"]
        files = {i["path"]: i["key"] for i in volume["secret"]["items"]}
        (mount,) = [m for m in main["volumeMounts"] if m["name"] == volume["name"]]
        assert mount["readOnly"] is True
        named = {e["value"] for e in main["env"] if e["name"].endswith(FILE_SUFFIX)}
        assert {f"{mount['mountPath']}/{path}" for path in files} == named, name
        assert set(files.values()) == keys, name


def test_the_web_app_keeps_studies_in_the_postgres_statefulset():
    web = {e["name"]: e["value"] for e in container(find("Deployment", "maskscope-web"))["env"]}
    assert web["MASKSCOPE_DATABASE_URL_FILE"].endswith("/database-url")
    postgres = find("StatefulSet", "maskscope-postgres")
    main = container(postgres)
    assert postgres["spec"]["volumeClaimTemplates"]
    assert {m["mountPath"] for m in main["volumeMounts"]} >= {"/var/lib/postgresql/data"}
    service = find("Service", "maskscope-postgres")
    assert selects({"matchLabels": service["spec"]["selector"]}, pod_labels("StatefulSet", "maskscope-postgres"))
    assert {p["port"] for p in service["spec"]["ports"]} == {5432}


EVERYONE = "anyone"  # a rule without `from` (or `to`) lets every peer through


def selector_selects(selector: dict, labels: dict) -> bool:
    assert set(selector) <= {"matchLabels"}, f"a selector this test cannot read: {selector}"
    return selects(selector, labels)


def peers(documents, direction: str, labels: dict, port: int, named_ports: dict[str, int]) -> list:
    """Every peer that any NetworkPolicy among `documents` (an overlay's name: its) lets reach (`ingress`) or be reached by
    (`egress`) the pods with `labels`, on `port`: policies add up, so each one that selects the
    pods counts; a rule without ports allows every port, without peers every peer; named ports
    are the pods' own. Empty: nothing may (the default-deny policy selects every pod)."""
    found = []
    documents = rendered(documents) if isinstance(documents, str) else documents
    for policy in (d for d in documents if d["kind"] == "NetworkPolicy"):
        spec = policy["spec"]
        if direction.capitalize() not in spec.get("policyTypes", ["Ingress"]):
            continue
        if not selector_selects(spec["podSelector"], labels):
            continue
        for rule in spec.get(direction, []):
            ports = [named_ports.get(p.get("port"), p.get("port")) for p in rule.get("ports", [{}])]
            if None in ports or port in ports:
                found.extend(rule.get("from" if direction == "ingress" else "to") or [EVERYONE])
    return found


def container_ports(kind: str, name: str, overlay: str) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in container(find(kind, name, overlay))["ports"]}


WEB_PODS = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "maskscope", "app.kubernetes.io/component": "web"}}}
PROMETHEUS = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
              "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_let_only_the_web_pods_reach_the_inference_service(overlay):
    web, postgres = pod_labels("Deployment", "maskscope-web", overlay), pod_labels("StatefulSet", "maskscope-postgres", overlay)
    inference = pod_labels("Deployment", "maskscope-inference", overlay)
    inference_ports = container_ports("Deployment", "maskscope-inference", overlay)
    service_ports = {p["name"]: p["targetPort"] for p in find("Service", "maskscope-inference", overlay)["spec"]["ports"]}
    grpc = inference_ports[service_ports["grpc"]]
    assert peers(overlay, "ingress", inference, grpc, inference_ports) == [WEB_PODS]
    assert selector_selects(WEB_PODS["podSelector"], web)
    assert not selector_selects(WEB_PODS["podSelector"], postgres) and not selector_selects(WEB_PODS["podSelector"], inference)
    assert peers(overlay, "ingress", inference, inference_ports["metrics"], inference_ports) == [PROMETHEUS]
    assert peers(overlay, "ingress", inference, 8080, inference_ports) == []  # any other port: nobody

    web_ports = container_ports("Deployment", "maskscope-web", overlay)
    assert peers(overlay, "ingress", web, web_ports["http"], web_ports) == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}]
    assert peers(overlay, "ingress", web, web_ports["metrics"], web_ports) == [PROMETHEUS]
    postgres_ports = container_ports("StatefulSet", "maskscope-postgres", overlay)
    assert peers(overlay, "ingress", postgres, 5432, postgres_ports) == [WEB_PODS]

    dns = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}]
    for labels, ports in ((inference, inference_ports), (web, web_ports), (postgres, postgres_ports)):
        assert peers(overlay, "egress", labels, 53, ports) == dns  # every pod: DNS, and nothing else there
        assert peers(overlay, "egress", labels, 443, ports) == []   # no pod reaches out anywhere else
    assert peers(overlay, "egress", web, 50051, web_ports) == [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "maskscope", "app.kubernetes.io/component": "inference"}}}]
    assert peers(overlay, "egress", inference, 50051, inference_ports) == []
    assert peers(overlay, "egress", web, 5432, web_ports) == [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "maskscope", "app.kubernetes.io/component": "postgres"}}}]


def test_the_policy_reader_counts_every_policy_and_portless_rules():
    """The reader itself, on a policy added beside ours that opens gRPC to everyone by number."""
    extra = {"kind": "NetworkPolicy", "metadata": {"name": "too-open"}, "spec": {
        "podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"ports": [{"port": 50051}]}, {"from": [WEB_PODS]}]}}
    inference = pod_labels("Deployment", "maskscope-inference")
    named = container_ports("Deployment", "maskscope-inference", "gpu")
    documents = rendered("gpu") + (extra,)
    found = peers(documents, "ingress", inference, 50051, named)
    assert EVERYONE in found and found.count(WEB_PODS) == 2
    assert peers(documents, "ingress", inference, 9999, named) == [WEB_PODS]  # the portless rule


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("kind, name", [("Deployment", "maskscope-web"), ("StatefulSet", "maskscope-postgres"),
                                        ("Deployment", "maskscope-inference")])
def test_every_pod_meets_the_namespaces_restricted_pod_security(kind, name, overlay):
    assert find("Namespace", "maskscope", overlay)["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    pod = find(kind, name, overlay)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    for c in pod["containers"] + pod.get("initContainers", []):
        security = c["securityContext"]
        assert security["allowPrivilegeEscalation"] is False and security["capabilities"]["drop"] == ["ALL"], c["name"]
    assert not any("hostPath" in v for v in pod.get("volumes", []))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_both_tiers_are_scraped_like_each_other(overlay):
    for name in ("maskscope-inference", "maskscope-web"):
        deployment = find("Deployment", name, overlay)
        ports = {p["name"]: p["containerPort"] for p in container(deployment)["ports"]}
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations == {"prometheus.io/scrape": "true", "prometheus.io/port": str(ports["metrics"]),
                               "prometheus.io/path": "/metrics"}, name
    web = {e["name"]: e.get("value") for e in container(find("Deployment", "maskscope-web", overlay))["env"]}
    assert web["MASKSCOPE_METRICS_PORT"] == str(ports["metrics"])


def matches(expressions: list[dict], labels: dict) -> bool:
    assert all(e["operator"] == "In" for e in expressions)
    return all(labels.get(e["key"]) in e["values"] for e in expressions)


def test_the_prometheus_operator_component_scrapes_both_tiers(tmp_path):
    """A site overlay as docs/deploy.md writes it: an overlay, plus the PodMonitor component."""
    relative = os.path.relpath(K8S, tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        f"resources: [{relative}/overlays/gpu]\ncomponents: [{relative}/monitoring]\n")
    docs = [d for d in yaml.safe_load_all(render(str(tmp_path))) if d]
    (monitor,) = [d for d in docs if d["kind"] == "PodMonitor"]
    assert monitor["metadata"]["namespace"] == "maskscope"
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    by_name = {d["metadata"]["name"]: d for d in docs if d["kind"] in ("Deployment", "StatefulSet")}
    for name, scraped in (("maskscope-inference", True), ("maskscope-web", True), ("maskscope-postgres", False)):
        workload = by_name[name]
        assert matches(monitor["spec"]["selector"]["matchExpressions"],
                       workload["spec"]["template"]["metadata"]["labels"]) is scraped, name
        if scraped:
            assert endpoint["port"] in {p["name"] for p in container(workload)["ports"]}, name
    assert [d for d in docs if d["kind"] != "PodMonitor"] == list(rendered("gpu"))


def documented_overlays() -> list[str]:
    text = (ROOT / "docs" / "deploy.md").read_text()
    return re.findall(r"```yaml\n(# my-site/kustomization\.yaml\n.*?)```", text, flags=re.S)


def render_site(tmp_path: Path, text: str) -> list[dict]:
    """A site overlay from the guide, its paths pointed at the tree from wherever it is written."""
    site = tmp_path / "my-site"
    site.mkdir()
    (site / "kustomization.yaml").write_text(text.replace("../deploy/", f"{os.path.relpath(ROOT / 'deploy', site)}/"))
    return [d for d in yaml.safe_load_all(render(str(site))) if d]


def test_the_guides_own_overlays_render_and_do_what_it_says(tmp_path):
    host_and_prometheus, external_database = documented_overlays()
    (tmp_path / "a").mkdir()
    docs = render_site(tmp_path / "a", host_and_prometheus)
    by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    assert by[("Ingress", "maskscope")]["spec"]["rules"][0]["host"] == "maskscope.my-university.example"
    assert ("PodMonitor", "maskscope") in by
    for name in ("maskscope-inference", "maskscope-web"):
        scrape = by[("NetworkPolicy", name)]["spec"]["ingress"][1]
        assert scrape["ports"] == [{"port": "metrics", "protocol": "TCP"}]
        assert scrape["from"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "observability"}

    (tmp_path / "b").mkdir()
    docs = render_site(tmp_path / "b", external_database)
    assert not [d for d in docs if d["metadata"]["name"] == "maskscope-postgres"]
    web_ports = container_ports("Deployment", "maskscope-web", "gpu")
    web = pod_labels("Deployment", "maskscope-web")
    assert peers(docs, "egress", web, 5432, web_ports) == [{"ipBlock": {"cidr": "10.20.0.5/32"}}]
    assert peers(docs, "egress", web, 50051, web_ports) == peers("gpu", "egress", web, 50051, web_ports)
