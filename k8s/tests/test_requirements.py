"""Requirements of SPEC §7-§8 and the seed README: scaling, resources, security, probes,
ports, configuration, RBAC, logs, access and the image.

Like the defect tests, each reads the rendered manifests (the `k8s` fixture) and the files
they are made from; test_mutations.py proves every test here can fail.
"""

import ipaddress
import json
import re

import yaml

from .manifests import (
    HEALTH, IMAGE, NAMESPACE, ROOT_ALLOWED, SERVICES, main_container, parse_quantity, selector_matches,
    url_host_port,
)


def test_req_hpa_policy(k8s):
    """HPA per service: autoscaling/v2, min 2, max 10, CPU 70 %, memory 80 %, scale-up/down behaviour"""
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in k8s.of_kind("HorizontalPodAutoscaler")}
    for name in SERVICES:
        h = hpas.get(name)
        assert h, f"no HPA for {name}"
        s = h["spec"]
        assert h["apiVersion"] == "autoscaling/v2", f"{name}: HPA must be autoscaling/v2"
        assert s["scaleTargetRef"].get("kind") == "Deployment" and k8s.workload(name, "Deployment"), (
            f"{name}: HPA targets a missing Deployment")
        assert s.get("minReplicas", 1) >= 2, f"{name}: minReplicas {s.get('minReplicas')} < 2"
        assert s.get("maxReplicas") == 10, f"{name}: maxReplicas {s.get('maxReplicas')} != 10"
        targets = {mt["resource"]["name"]: mt["resource"]["target"] for mt in s.get("metrics", [])
                   if mt.get("type") == "Resource"}
        for res, val in (("cpu", 70), ("memory", 80)):
            t = targets.get(res) or {}
            assert t.get("type") == "Utilization" and t.get("averageUtilization") == val, (
                f"{name}: {res} target must be {val} % utilization, is {t}")
        beh = s.get("behavior") or {}
        assert beh.get("scaleUp", {}).get("policies") and beh.get("scaleDown", {}).get("policies"), (
            f"{name}: HPA needs scaleUp and scaleDown behaviour")
        w = k8s.workload(name, "Deployment")
        if w:
            res = main_container(w).get("resources", {}).get("requests", {})
            assert "cpu" in res and "memory" in res, f"{name}: utilization targets need cpu and memory requests"
    for name, h in hpas.items():
        assert name in SERVICES, f"HPA for {name}, which is not one of the five services"


def test_req_replicas_anti_affinity_pdb(k8s):
    """every service Deployment: >= 2 replicas, pod anti-affinity, tolerations, PodDisruptionBudget"""
    pdbs = k8s.of_kind("PodDisruptionBudget")
    for name, w in k8s.service_workloads().items():
        assert w, f"no Deployment {name}"
        replicas = w.obj["spec"].get("replicas", 1)
        assert replicas >= 2, f"{name}: replicas {replicas} < 2"
        aa = (w.spec.get("affinity") or {}).get("podAntiAffinity") or {}
        terms = [t.get("podAffinityTerm", t) for t in aa.get("preferredDuringSchedulingIgnoredDuringExecution", [])]
        terms += aa.get("requiredDuringSchedulingIgnoredDuringExecution", [])
        assert any(t.get("topologyKey") == "kubernetes.io/hostname" and selector_matches(t.get("labelSelector"), w.labels)
                   for t in terms), f"{name}: no pod anti-affinity over kubernetes.io/hostname selecting its own pods"
        assert w.spec.get("tolerations"), f"{name}: no tolerations"
        mine = [d for d in pdbs if selector_matches(d["spec"].get("selector"), w.labels)]
        assert mine, f"{name}: no PodDisruptionBudget"
        s = mine[0]["spec"]
        if "minAvailable" in s:
            assert isinstance(s["minAvailable"], int) and 1 <= s["minAvailable"] < replicas, (
                f"{name}: PDB minAvailable must let one pod of {replicas} be evicted")
        sel = w.obj["spec"]["selector"]
        assert selector_matches(sel, w.labels), f"{name}: selector does not match its pod template"
    for d in pdbs:
        assert any(selector_matches(d["spec"].get("selector"), w.labels) for w in k8s.workloads), (
            f"PDB {d['metadata']['name']} selects no pods")


def test_req_resources_in_seed_ranges(k8s):
    """requests/limits in the seed's ranges (CPU 250m-1000m, memory 256Mi-2Gi, storage 5Gi-20Gi)"""
    for w in k8s.workloads:
        for c in w.all_containers():
            res = c.get("resources") or {}
            for kind in ("requests", "limits"):
                for r, lo, hi in (("cpu", 0.25, 1.0), ("memory", 256 * 2 ** 20, 2 * 2 ** 30)):
                    v = (res.get(kind) or {}).get(r)
                    assert v is not None, f"{w.name}/{c['name']}: no {kind}.{r}"
                    q = parse_quantity(v)
                    assert lo <= q <= hi, f"{w.name}/{c['name']}: {kind}.{r}={v} outside the seed's range"
            for r in ("cpu", "memory"):
                req, lim = (res.get("requests") or {}).get(r), (res.get("limits") or {}).get(r)
                if req and lim:
                    assert parse_quantity(req) <= parse_quantity(lim), f"{w.name}/{c['name']}: {r} request > limit"
    claims = [(d["metadata"]["name"], d["spec"]) for d in k8s.of_kind("PersistentVolumeClaim")]
    for w in k8s.workloads:
        for t in w.obj["spec"].get("volumeClaimTemplates") or []:
            claims.append((f"{w.name}/{t['metadata']['name']}", t["spec"]))
    assert claims, "no persistent storage"
    for name, spec in claims:
        size = parse_quantity(spec["resources"]["requests"]["storage"])
        assert 5 * 2 ** 30 <= size <= 20 * 2 ** 30, (
            f"{name}: storage {spec['resources']['requests']['storage']} outside 5Gi-20Gi")
    for name in ("postgres", "mongodb", "rabbitmq"):
        w = k8s.workload(name, "StatefulSet")
        assert w and w.obj["spec"].get("volumeClaimTemplates"), (
            f"{name}: StatefulSet with volumeClaimTemplates required")


def test_req_pod_security(k8s):
    """non-root, read-only root filesystem with an emptyDir /tmp, no privilege escalation"""
    dockerfile = k8s.read("Dockerfile")
    users = re.findall(r"^USER\s+(\d+)", dockerfile, re.M)
    assert users and users[-1] != "0", "the Dockerfile's final USER must be a non-root uid"
    for w in k8s.workloads:
        pod_sc = w.spec.get("securityContext") or {}
        for c in w.all_containers():
            sc = c.get("securityContext") or {}
            root_ok = w.app in ROOT_ALLOWED
            non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
            uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
            if not root_ok:
                assert non_root is True and uid not in (0, None), f"{w.name}/{c['name']}: must run as a non-root uid"
            assert sc.get("allowPrivilegeEscalation") is False, (
                f"{w.name}/{c['name']}: allowPrivilegeEscalation must be false")
            assert "ALL" in ((sc.get("capabilities") or {}).get("drop") or []), (
                f"{w.name}/{c['name']}: must drop ALL capabilities")
            assert not sc.get("privileged"), f"{w.name}/{c['name']}: privileged"
        assert (pod_sc.get("seccompProfile") or {}).get("type") == "RuntimeDefault", (
            f"{w.name}: seccompProfile RuntimeDefault")
        if w.app in SERVICES:
            c = main_container(w)
            sc = c.get("securityContext") or {}
            assert sc.get("readOnlyRootFilesystem") is True, f"{w.name}: readOnlyRootFilesystem must be true"
            tmp = [vm for vm in c.get("volumeMounts", []) if vm["mountPath"] == "/tmp"]
            assert tmp and "emptyDir" in (w.volume(tmp[0]["name"]) or {}), f"{w.name}: needs an emptyDir at /tmp"
            assert users and pod_sc.get("runAsUser") == int(users[-1]), (
                f"{w.name}: runAsUser {pod_sc.get('runAsUser')} differs from the image's USER {users}")
            assert w.spec.get("automountServiceAccountToken") is False, (
                f"{w.name}: the services do not use the Kubernetes API; do not mount a token")


def test_req_probes_on_health_endpoints(k8s):
    """probes on the documented health endpoints (liveness, readiness, startup)"""
    for name, w in k8s.service_workloads().items():
        assert w, f"no Deployment {name}"
        c = main_container(w)
        want = HEALTH[SERVICES[name]["health"]]
        for kind, path in (("livenessProbe", want["liveness"]), ("readinessProbe", want["readiness"]),
                           ("startupProbe", want["startup"])):
            probe = (c.get(kind) or {}).get("httpGet") or {}
            assert probe.get("path") == path, f"{name}: {kind} path {probe.get('path')!r}, expected {path}"
            assert probe.get("port") == "http", f"{name}: {kind} must use the named port http"
    for w in k8s.workloads:
        if w.kind in ("Deployment", "StatefulSet") and w.app not in (None,):
            c = main_container(w)
            assert c.get("readinessProbe") and c.get("livenessProbe"), f"{w.name}: needs liveness and readiness probes"


def test_req_services_and_ports(k8s):
    """Services select pods, target named ports that exist; the services' ports are named http"""
    for s in k8s.of_kind("Service"):
        name = s["metadata"]["name"]
        pods = k8s.pods_of_service(s)
        assert pods, f"Service {name} selects no pods"
        for sp in s["spec"]["ports"]:
            assert sp.get("name"), f"Service {name}: port {sp['port']} has no name"
            tp = sp.get("targetPort", sp["port"])
            for w in pods:
                assert w.resolve_port(tp, sp.get("protocol", "TCP")) is not None, (
                    f"Service {name}: targetPort {tp!r} is not a port of {w.name}")
    for name, spec in SERVICES.items():
        w = k8s.workload(name, "Deployment")
        assert w, f"no Deployment {name}"
        assert [(x["name"], x["port"]) for x in w.ports()] == [("http", spec["port"])], (
            f"{name}: container port must be http:{spec['port']}, is {w.ports()}")
        svc = k8s.get("Service", name)
        assert svc, f"no Service {name}"
        assert [sp.get("name") for sp in svc["spec"]["ports"]] == ["http"], (
            f"Service {name}: port must be named http")
        if name != "gateway-service":
            hl = k8s.get("Service", f"{name}-headless")
            assert hl and hl["spec"].get("clusterIP") == "None", f"no headless Service {name}-headless"


def test_req_service_environment(k8s):
    """each service gets the configuration it reads (SPEC §3 names), its command and the Downward API limits"""
    for name, spec in SERVICES.items():
        w = k8s.workload(name, "Deployment")
        assert w, f"no Deployment {name}"
        c = main_container(w)
        val = lambda k: k8s.env_value(w, c, k)  # noqa: E731
        src = k8s.env_sources(w, c)
        assert c.get("image", "").split(":")[0].split("/")[-1] == IMAGE, f"{name}: image must be {IMAGE}"
        assert c.get("args") == ["serve", spec["arg"]], f"{name}: args must be ['serve', '{spec['arg']}']"
        assert val("SERVICE_NAME") == name, f"{name}: SERVICE_NAME is {val('SERVICE_NAME')!r}"
        assert val("PORT") == str(spec["port"]), f"{name}: PORT is {val('PORT')!r}, container port {spec['port']}"
        assert val("LOG_LEVEL"), f"{name}: no LOG_LEVEL"
        if spec["storage"]:
            assert val("STORAGE") == spec["storage"], f"{name}: STORAGE is {val('STORAGE')!r}"
        if spec["storage"] == "mongodb":
            assert val("MONGO_DB") == spec["db"], f"{name}: MONGO_DB is {val('MONGO_DB')!r}, expected {spec['db']}"
            assert val("MONGO_URI"), f"{name}: no MONGO_URI"
        if spec["storage"] == "postgres":
            for k in ("POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DB", "POSTGRES_USER"):
                assert val(k), f"{name}: no {k}"
            assert src.get("POSTGRES_PASSWORD", ("",))[0] == "secret", f"{name}: POSTGRES_PASSWORD from the Secret"
        if spec["bus"]:
            assert val("EVENT_BUS") == "rabbitmq", f"{name}: EVENT_BUS must be rabbitmq"
            for k in ("RABBITMQ_HOST", "RABBITMQ_PORT", "RABBITMQ_VHOST"):
                assert val(k), f"{name}: no {k}"
            for k in ("RABBITMQ_USER", "RABBITMQ_PASS"):
                assert src.get(k, ("",))[0] == "secret", f"{name}: {k} must come from the Secret"
            svc = k8s.service_for_host(val("RABBITMQ_HOST") or "")
            assert svc and any(sp["port"] == int(val("RABBITMQ_PORT") or 0) for sp in svc["spec"]["ports"]), (
                f"{name}: RABBITMQ_HOST/PORT is not the rabbitmq Service")
        if name == "user-service":
            for k in ("ADMIN_USERNAME", "ADMIN_EMAIL", "JWT_EXPIRATION_HOURS"):
                assert val(k), f"{name}: no {k}"
            assert src.get("ADMIN_PASSWORD", ("",))[0] == "secret", f"{name}: ADMIN_PASSWORD from the Secret"
        if name.startswith("payment-service"):
            for k in ("PAYMENT_PROCESSING_MS", "PAYMENT_SUCCESS_RATE"):
                assert val(k), f"{name}: no {k}"
        if name == "gateway-service":
            # Clients reach the gateway: it must not believe X-Forwarded-For from any address by default.
            trusted = [e.strip() for e in (val("GATEWAY_TRUSTED_PROXIES") or "").split(",") if e.strip()]
            assert all(ipaddress.ip_network(e, strict=False).prefixlen > 0 for e in trusted), (
                f"{name}: GATEWAY_TRUSTED_PROXIES {trusted} trusts every address")
        else:
            # Behind the gateway, a service believes the gateway's X-Forwarded-For (the login limit is per client).
            trusted = [e.strip() for e in (val("TRUSTED_PROXIES") or "").split(",") if e.strip()]
            assert trusted, f"{name}: no TRUSTED_PROXIES, so every client behind the gateway shares one login bucket"
            for e in trusted:
                try:
                    ipaddress.ip_network(e, strict=False)
                except ValueError:
                    raise AssertionError(f"{name}: TRUSTED_PROXIES entry {e!r} is not an address or CIDR") from None
        for k, res, div in (("MEMORY_LIMIT_BYTES", "limits.memory", "1"), ("CPU_LIMIT_MILLICORES", "limits.cpu", "1m")):
            s = src.get(k)
            ok = s and s[0] == "resource" and s[1].get("resource") == res and str(s[1].get("divisor", "1")) == div \
                and s[1].get("containerName", c["name"]) == c["name"]
            assert ok, f"{name}: {k} must be resourceFieldRef {res} with divisor {div}"


def test_req_outbox_fits_its_volume(k8s):
    """every service on the bus keeps its durable outbox on a volume whose size limit holds the outbox's byte limit
    (RABBITMQ_OUTBOX_MAX_BYTES) plus room for its cursor, so a broker outage cannot fill the pod's disk"""
    for name, spec in SERVICES.items():
        if not spec["bus"]:
            continue
        w = k8s.workload(name, "Deployment")
        c = main_container(w)
        directory = k8s.env_value(w, c, "RABBITMQ_OUTBOX_DIR")
        limit = k8s.env_value(w, c, "RABBITMQ_OUTBOX_MAX_BYTES")
        assert directory and directory.startswith("/"), f"{name}: RABBITMQ_OUTBOX_DIR must be an absolute path"
        assert limit and limit.isdigit(), f"{name}: RABBITMQ_OUTBOX_MAX_BYTES must be set (the default, 256 MiB, fits no volume here)"
        mounts = [m for m in c.get("volumeMounts") or []
                  if directory == m["mountPath"] or directory.startswith(m["mountPath"].rstrip("/") + "/")]
        assert mounts, f"{name}: no volume mounted at the outbox directory {directory}"
        mount = max(mounts, key=lambda m: len(m["mountPath"]))
        volume = w.volume(mount["name"])
        assert volume and "emptyDir" in volume, f"{name}: the outbox volume {mount['name']} must be an emptyDir"
        size = (volume["emptyDir"] or {}).get("sizeLimit")
        assert size, f"{name}: the outbox volume {mount['name']} needs a sizeLimit"
        assert parse_quantity(size) >= int(limit) + 16 * 2 ** 20, (
            f"{name}: outbox volume sizeLimit {size} is smaller than RABBITMQ_OUTBOX_MAX_BYTES {limit} + 16 MiB")


def test_req_postgres_connections_fit(k8s):
    """every PostgreSQL pool fits at full scale-out: over the Deployments on PostgreSQL, maxReplicas x
    (POSTGRES_POOL_SIZE, the service's default 20 when unset, + 1 for the start-up maintenance connection), plus the
    server's superuser reserve of 3, stays within the server's max_connections (its `-c max_connections=N`,
    PostgreSQL's default 100), so scaling out never ends in 'too many clients' (503s)"""
    pg = k8s.workload("postgres", "StatefulSet")
    assert pg, "no StatefulSet postgres"
    args = [str(a) for a in (main_container(pg).get("args") or [])]
    limit = 100
    for i, arg in enumerate(args):
        setting = args[i + 1] if arg == "-c" and i + 1 < len(args) else arg.removeprefix("--")
        key, _, value = setting.partition("=")
        if key.strip() == "max_connections":
            limit = int(value)
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in k8s.of_kind("HorizontalPodAutoscaler")}
    needed, parts = 3, []
    for name, spec in SERVICES.items():
        if spec["storage"] != "postgres":
            continue
        w = k8s.workload(name, "Deployment")
        assert w, f"no Deployment {name}"
        pool = k8s.env_value(w, main_container(w), "POSTGRES_POOL_SIZE") or "20"
        assert pool.isdigit(), f"{name}: POSTGRES_POOL_SIZE {pool!r} is not a number"
        replicas = (hpas.get(name) or {}).get("spec", {}).get("maxReplicas") or w.obj["spec"].get("replicas", 1)
        needed += replicas * (int(pool) + 1)
        parts.append(f"{name} {replicas} x ({pool} + 1)")
    assert needed <= limit, (
        f"PostgreSQL max_connections {limit} < {needed} needed at full scale-out: {', '.join(parts)} + 3 reserved")


def test_req_rbac(k8s):
    """ServiceAccounts and RBAC: Prometheus discovery, RabbitMQ peer discovery, Filebeat metadata"""
    for w in k8s.workloads:
        sa = w.spec.get("serviceAccountName")
        if sa:
            assert k8s.get("ServiceAccount", sa), f"{w.name}: ServiceAccount {sa} does not exist"
    for kind in ("RoleBinding", "ClusterRoleBinding"):
        for b in k8s.of_kind(kind):
            ref = b["roleRef"]
            assert k8s.get(ref["kind"], ref["name"]), (
                f"{kind} {b['metadata']['name']}: {ref['kind']} {ref['name']} missing")
            for s in b.get("subjects", []):
                if s["kind"] == "ServiceAccount":
                    assert k8s.get("ServiceAccount", s["name"]) and s.get("namespace", NAMESPACE) == NAMESPACE, (
                        f"{kind} {b['metadata']['name']}: ServiceAccount {s.get('namespace')}/{s['name']} missing")
    prom = k8s.workload("prometheus")
    assert prom, "no Prometheus"
    sa = prom.spec.get("serviceAccountName")
    for res in ("pods", "endpoints", "services", "nodes", "nodes/proxy"):
        for verb in ("list", "watch") if res != "nodes/proxy" else ("get",):
            assert k8s.rbac_allows(sa, res, verb, cluster=True), f"Prometheus may not {verb} {res} (ClusterRole)"
    fb = k8s.workload("filebeat", "DaemonSet")
    assert fb, "no Filebeat DaemonSet"
    sa = fb.spec.get("serviceAccountName")
    for res in ("pods", "namespaces", "nodes"):
        assert k8s.rbac_allows(sa, res, "watch", cluster=True), f"Filebeat may not watch {res}"


def test_req_filebeat_json_logs(k8s):
    """Filebeat: DaemonSet with a container input that decodes the services' JSON log lines"""
    fb = k8s.workload("filebeat", "DaemonSet")
    assert fb, "no Filebeat DaemonSet"
    c = main_container(fb)
    cfg_text = None
    for vm in c.get("volumeMounts", []):
        vol = fb.volume(vm["name"])
        if vol and "configMap" in vol:
            data = k8s.configmap_data(vol["configMap"]["name"]) or {}
            key = vm.get("subPath") or "filebeat.yml"
            if vm["mountPath"] in ("/etc/filebeat.yml", "/usr/share/filebeat/filebeat.yml") or key in data:
                cfg_text = data.get(key)
    assert cfg_text, "Filebeat's configuration is not mounted"
    cfg = yaml.safe_load(cfg_text)
    inputs = cfg.get("filebeat.inputs") or []
    cont = [i for i in inputs if i.get("type") == "container" or
            (i.get("type") == "filestream" and "container" in json.dumps(i.get("parsers", [])))]
    assert cont, "no container input"
    i = cont[0]
    assert any(f"_{NAMESPACE}_" in path for path in i.get("paths", [])), (
        f"the container input does not read the {NAMESPACE} namespace's logs")
    procs = i.get("processors", []) + (cfg.get("processors") or [])
    dec = [x["decode_json_fields"] for x in procs if "decode_json_fields" in x]
    assert dec, "no decode_json_fields processor"
    d = dec[0]
    assert "message" in d.get("fields", []), "decode_json_fields must decode the message field"
    assert d.get("target") == "" and d.get("overwrite_keys") is True, (
        "decoded keys (@timestamp, message) must replace the top-level ones (target '', overwrite_keys)")
    assert d.get("expand_keys") is True, (
        "expand_keys must turn log.level, service.name, request.id, trace.id into ECS objects")
    assert any("add_kubernetes_metadata" in x for x in procs), "no add_kubernetes_metadata"
    es = (cfg.get("output.elasticsearch") or {}).get("hosts", [])
    for h in es:
        hp = url_host_port(h if "://" in h else "http://" + h)
        assert hp and k8s.service_for_host(hp[0]), f"Filebeat ships to {h}, which is not a Service"
    mounts = {vm["mountPath"] for vm in c.get("volumeMounts", [])}
    assert {"/var/log/containers", "/var/log/pods"} <= mounts, (
        "Filebeat must mount /var/log/containers and /var/log/pods")
    kib = k8s.get("Service", "kibana-service")
    assert kib, "no Service kibana-service (seed README: kubectl port-forward service/kibana-service 5601:5601)"


def test_req_seed_access_services(k8s):
    """seed README's access: Services prometheus-service:9090, grafana-service:3000, kibana-service:5601"""
    for name, port, app in (("prometheus-service", 9090, "prometheus"), ("grafana-service", 3000, "grafana"),
                            ("kibana-service", 5601, "kibana"), ("gateway-service", 80, "gateway-service")):
        s = k8s.get("Service", name)
        assert s, f"no Service {name}"
        assert any(sp["port"] == port for sp in s["spec"]["ports"]), f"Service {name} has no port {port}"
        assert any(w.app == app for w in k8s.pods_of_service(s)), f"Service {name} does not select {app}"
    ns = k8s.get("Namespace", NAMESPACE)
    assert ns, f"no Namespace {NAMESPACE}"
    for d in k8s.docs:
        if d["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            assert d["metadata"].get("namespace") == NAMESPACE, (
                f"{d['kind']} {d['metadata']['name']} outside {NAMESPACE}")


def test_req_dockerfile(k8s):
    """one multi-stage Dockerfile builds the bookstore image; .dockerignore keeps build output out"""
    df = k8s.read("Dockerfile")
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", df, re.M | re.I)
    assert len(stages) >= 2, "the Dockerfile must be multi-stage"
    assert re.search(r"^ARG SWIFT_IMAGE=swift:6\.3-bookworm", df, re.M) or "swift:6.3-bookworm" in df, (
        "build stage must be swift:6.3-bookworm")
    assert re.search(r"swift build -c release --product bookstore", df), "must build the bookstore product in release"
    assert "libmongoc-dev" in df and "librabbitmq-dev" in df, "build stage needs libmongoc-dev and librabbitmq-dev"
    for lib in ("libmongoc-1.0-0", "libbson-1.0-0", "librabbitmq4", "ca-certificates", "tzdata"):
        assert lib in df, f"runtime stage lacks {lib}"
    assert re.search(r'^ENTRYPOINT \["/app/bookstore"\]', df, re.M), 'ENTRYPOINT must be ["/app/bookstore"]'
    assert re.search(r"^USER 10001", df, re.M), "runtime must run as uid 10001"
    ign = k8s.read(".dockerignore").split()
    for entry in (".build/", ".git/", "reports/", ".data/"):
        assert entry in ign, f".dockerignore lacks {entry}"
