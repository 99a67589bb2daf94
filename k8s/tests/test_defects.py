"""One test per defect of the original project (SPEC §7, "Known defects of the original to fix").

Each test reads the manifests as `kubectl kustomize k8s` renders them (the `k8s` fixture)
plus the files they are made from, and fails if its defect is back. The two defects of the
alert rules are in test_promql.py; test_mutations.py proves every test here can fail.
"""

import fnmatch
import json
import re

import yaml

from . import promql
from .manifests import (
    CONFIGMAP_NAME, DASHBOARD_METRIC_PATTERNS, EMITTED_METRICS, KUSTOMIZATION, NAMESPACE, SECRET_KEYS_NAMED_BY_SPEC,
    SECRET_NAME, SECRET_TEMPLATE, SERVICES, THIRD_PARTY_METRICS, UPSTREAM_ENV, main_container, url_host_port,
)
from .netpol import NetworkModel


def test_defect_gateway_routes_applied(k8s):
    """gateway routes not applied: the gateway must get every upstream of its route table"""
    gw = k8s.workload("gateway-service", "Deployment")
    assert gw is not None, "no Deployment gateway-service"
    c = main_container(gw)
    assert c.get("args") == ["serve", "gateway"], f"gateway args are {c.get('args')}, expected ['serve', 'gateway']"
    for env, app in UPSTREAM_ENV.items():
        value = k8s.env_value(gw, c, env)
        assert value, f"gateway has no {env} (upstream {app})"
        for url in value.split(","):
            hp = url_host_port(url)
            assert hp, f"{env}: {url!r} is not an http(s) URL"
            host, port = hp
            svc = k8s.service_for_host(host)
            assert svc, f"{env}: host {host!r} is not a Service of namespace {NAMESPACE}"
            assert svc["spec"].get("clusterIP") == "None", (
                f"{env}: {host} should be a headless Service (the gateway balances over pod addresses)")
            pods = k8s.pods_of_service(svc)
            assert pods and all(w.app == app for w in pods), (
                f"{env}: Service {host} selects {[w.name for w in pods]}, expected the pods of {app}")
            sport = [sp for sp in svc["spec"].get("ports", []) if sp["port"] == port]
            assert sport, f"{env}: Service {host} has no port {port}"
            tp = sport[0].get("targetPort", port)
            for w in pods:
                assert w.resolve_port(tp) == SERVICES[app]["port"], (
                    f"{env}: {host}:{port} -> targetPort {tp!r} is not {app}'s container port")
            # headless: traffic goes straight to the pod port
            assert port == SERVICES[app]["port"], (
                f"{env}: port {port} is not {app}'s container port {SERVICES[app]['port']}")


def test_defect_auth_route_reaches_users(k8s):
    """no route for /api/auth: login and registration must reach the user service through the gateway"""
    paths = ["/api/auth/login", "/api/auth/register", "/api/users/health", "/api/payments-python/health",
             "/api/payments-java/actuator/health", "/api/reviews/book/1"]
    for path in paths:
        backends = k8s.ingress_backends_for(path)
        assert backends == {"gateway-service"}, (
            f"Ingress sends {path} to {sorted(backends) or 'nothing'}, expected gateway-service")
    net = NetworkModel(k8s)
    gw = k8s.workload("gateway-service")
    users = k8s.workload("user-service")
    if gw and users:
        ok, why = net.allowed(net.pod(gw), net.pod(users), SERVICES["user-service"]["port"])
        assert ok, f"NetworkPolicies block gateway -> user-service:{SERVICES['user-service']['port']}: {why}"
        ok, why = net.allowed(net.EXTERNAL, net.pod(gw), SERVICES["gateway-service"]["port"])
        assert ok, f"NetworkPolicies block clients -> gateway: {why}"


def test_defect_authorization_header_preserved(k8s):
    """gateway dropping Authorization: nothing between client and services may strip or rewrite it"""
    for ing in k8s.of_kind("Ingress"):
        for key, value in (ing["metadata"].get("annotations") or {}).items():
            assert "authorization" not in str(value).lower(), (
                f"Ingress {ing['metadata']['name']}: annotation {key} touches the Authorization header")
            assert not key.endswith("/rewrite-target"), (
                f"Ingress {ing['metadata']['name']}: {key} rewrites the path the gateway routes on")
            assert not re.search(r"/auth-(url|signin|snippet)$", key), (
                f"Ingress {ing['metadata']['name']}: {key} authenticates in the Ingress and replaces the token")
    # The gateway forwards the token; every service must be able to verify it: same key, same algorithm.
    refs = set()
    for name, w in k8s.service_workloads().items():
        if w is None:
            continue
        src = k8s.env_sources(w, main_container(w))
        refs.add((src.get("JWT_SECRET"), src.get("JWT_ALGORITHM")))
    assert len(refs) == 1, f"the services read different JWT keys/algorithms: {sorted(map(str, refs))}"


def test_defect_ingress_targets_gateway_only(k8s):
    """Ingress bypassing the gateway and naming a Service that does not exist"""
    ingresses = k8s.of_kind("Ingress")
    assert ingresses, "no Ingress"
    has_api = False
    for ing in ingresses:
        name = ing["metadata"]["name"]
        backends = []
        if ing["spec"].get("defaultBackend"):
            backends.append(("(default)", ing["spec"]["defaultBackend"]))
        for rule in ing["spec"].get("rules") or []:
            for path in (rule.get("http") or {}).get("paths") or []:
                backends.append((path.get("path"), path["backend"]))
                if path.get("path") in ("/api", "/api/") and path.get("pathType") in ("Prefix", "ImplementationSpecific"):
                    has_api = True
        for path, be in backends:
            svc_ref = be.get("service")
            assert svc_ref, f"Ingress {name} {path}: backend is not a Service"
            assert svc_ref["name"] == "gateway-service", (
                f"Ingress {name} {path} -> {svc_ref['name']}: only gateway-service may be exposed")
            svc = k8s.get("Service", svc_ref["name"])
            assert svc, f"Ingress {name} {path} names Service {svc_ref['name']}, which does not exist"
            port = svc_ref.get("port") or {}
            names = {sp.get("name") for sp in svc["spec"]["ports"]}
            numbers = {sp["port"] for sp in svc["spec"]["ports"]}
            if "name" in port:
                assert port["name"] in names, f"Ingress {name} {path}: Service port {port['name']!r} does not exist"
            else:
                assert port.get("number") in numbers, f"Ingress {name} {path}: Service port {port} does not exist"
    assert has_api, "no Ingress path /api (Prefix)"
    gw = k8s.get("Service", "gateway-service")
    assert gw and gw["spec"].get("type") == "LoadBalancer", (
        "Service gateway-service must be type LoadBalancer (seed README: kubectl get service gateway-service)")
    exposed = [f"Service {s['metadata']['name']} is exposed ({s['spec']['type']}) around the gateway"
               for s in k8s.of_kind("Service")
               if s["spec"].get("type") in ("LoadBalancer", "NodePort") and s["metadata"]["name"] != "gateway-service"]
    assert not exposed, "\n".join(exposed)


def test_defect_no_eureka(k8s):
    """Eureka referenced but absent: discovery is by Kubernetes Services only"""
    mentions = [f"{d['kind']} {d['metadata']['name']} mentions Eureka"
                for d in k8s.docs if "eureka" in json.dumps(d).lower()]
    assert not mentions, "\n".join(mentions)
    # Every URL handed to a service must point at a Service that exists.
    for w in k8s.workloads:
        for c in w.containers:
            for e in w.env(c):
                v = k8s.env_value(w, c, e["name"])
                if not v or "://" not in v or not v.startswith("http"):
                    continue
                for url in v.split(","):
                    hp = url_host_port(url)
                    in_cluster = hp and ("." not in hp[0] or hp[0].endswith(".svc.cluster.local"))
                    if in_cluster:
                        assert k8s.service_for_host(hp[0]), (
                            f"{w.name}: {e['name']}={url} names no Service of namespace {NAMESPACE}")


def test_defect_scrape_and_probe_targets_exist(k8s):
    """Prometheus scraping endpoints that do not exist: every scrape and probe port exists and is named"""
    for w in k8s.workloads:
        ann = w.annotations
        if ann.get("prometheus.io/scrape") == "true":
            port = ann.get("prometheus.io/port")
            path = ann.get("prometheus.io/path", "/metrics")
            assert port and port.isdigit(), f"{w.name}: prometheus.io/port must be a port number"
            port = int(port)
            named = [x for x in w.ports() if x["port"] == port]
            assert named and named[0]["name"], f"{w.name}: prometheus.io/port {port} is not a named container port"
            assert w.app in SERVICES or w.app in THIRD_PARTY_METRICS, (
                f"{w.name}: scraped, but no known metrics endpoint for app {w.app!r}")
            if w.app in SERVICES:
                assert port == SERVICES[w.app]["port"] and path in SERVICES[w.app]["metrics"], (
                    f"{w.name}: scrapes {port}{path}; the service serves {sorted(SERVICES[w.app]['metrics'])} "
                    f"on {SERVICES[w.app]['port']}")
            else:
                assert (port, path) in THIRD_PARTY_METRICS[w.app], (
                    f"{w.name}: scrapes {port}{path}, expected one of {sorted(THIRD_PARTY_METRICS[w.app])}")
        else:
            assert w.app not in SERVICES and w.app != "rabbitmq", (
                f"{w.name}: not annotated prometheus.io/scrape: 'true'")
        for c in w.all_containers():
            for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
                probe = c.get(kind)
                if not probe:
                    continue
                act = probe.get("httpGet") or probe.get("tcpSocket") or probe.get("grpc")
                if act is None:
                    continue
                port = act.get("port")
                if isinstance(port, str):
                    assert any(x["name"] == port for x in w.ports()), (
                        f"{w.name}/{c['name']} {kind}: port {port!r} is not a container port name")
                else:
                    assert any(x["port"] == port and x["name"] for x in w.ports()), (
                        f"{w.name}/{c['name']} {kind}: port {port} is not a named container port")
    # Prometheus itself: Kubernetes discovery of the right namespace, the
    # annotations the pods carry, a reachable Alertmanager.
    cfg_text = (k8s.configmap_data(k8s.prometheus_configmap_name()) or {}).get("prometheus.yml")
    assert cfg_text, "the Prometheus ConfigMap has no prometheus.yml"
    cfg = yaml.safe_load(cfg_text)
    pods_job = [j for j in cfg.get("scrape_configs", []) if any(
        sd.get("role") == "pod" for sd in j.get("kubernetes_sd_configs") or [])]
    assert pods_job, "no scrape job discovers pods (kubernetes_sd_configs role: pod)"
    job = pods_job[0]
    names = set()
    for sd in job["kubernetes_sd_configs"]:
        names |= set((sd.get("namespaces") or {}).get("names") or [NAMESPACE])
    assert NAMESPACE in names, f"pod discovery does not cover namespace {NAMESPACE}"
    sources = {lbl for rc in job.get("relabel_configs", []) for lbl in rc.get("source_labels", [])}
    for a in ("scrape", "port", "path"):
        assert f"__meta_kubernetes_pod_annotation_prometheus_io_{a}" in sources, (
            f"pod discovery ignores the prometheus.io/{a} annotation")
    assert any(any(sd.get("role") == "node" for sd in j.get("kubernetes_sd_configs") or [])
               and "cadvisor" in json.dumps(j) for j in cfg.get("scrape_configs", [])), (
        "no cAdvisor scrape job (container CPU/memory)")
    for am in (cfg.get("alerting") or {}).get("alertmanagers", []):
        for sc in am.get("static_configs", []):
            for t in sc.get("targets", []):
                host, _, port = t.rpartition(":")
                svc = k8s.service_for_host(host)
                assert svc and any(sp["port"] == int(port) for sp in svc["spec"]["ports"]), (
                    f"Prometheus sends alerts to {t}, which is not a Service port")


def test_defect_secret_template_has_every_key(k8s):
    """Secret missing GRAFANA_PASSWORD, RABBITMQ_ERLANG_COOKIE, RABBITMQ_USER: every referenced key is in the template"""
    secret, keys = k8s.secret_template()
    assert secret["metadata"].get("namespace") in (None, NAMESPACE), "the Secret template is in the wrong namespace"
    missing_named = SECRET_KEYS_NAMED_BY_SPEC - keys
    assert not missing_named, f"the Secret template lacks {sorted(missing_named)}"
    values = dict(secret.get("stringData") or {})
    assert not secret.get("data"), "the Secret template must use stringData placeholders, not data"
    for k, v in values.items():
        assert str(v).startswith("REPLACE_ME"), f"Secret template key {k} holds a value, not a placeholder"
    refs = []
    cm_refs = []
    for w in k8s.workloads:
        for c in w.all_containers():
            for e in w.env(c):
                vf = e.get("valueFrom") or {}
                if "secretKeyRef" in vf:
                    refs.append((w.name, vf["secretKeyRef"]["name"], vf["secretKeyRef"]["key"]))
                if "configMapKeyRef" in vf:
                    cm_refs.append((w.name, vf["configMapKeyRef"]["name"], vf["configMapKeyRef"]["key"],
                                    vf["configMapKeyRef"].get("optional", False)))
            for ef in c.get("envFrom") or []:
                if "secretRef" in ef:
                    assert ef["secretRef"]["name"] == SECRET_NAME, f"{w.name}: envFrom an unknown Secret"
                if "configMapRef" in ef:
                    assert k8s.get("ConfigMap", ef["configMapRef"]["name"]), f"{w.name}: envFrom an unknown ConfigMap"
        for v in w.spec.get("volumes") or []:
            if "secret" in v:
                for item in v["secret"].get("items") or []:
                    refs.append((w.name, v["secret"]["secretName"], item["key"]))
                if not v["secret"].get("items"):
                    assert v["secret"]["secretName"] == SECRET_NAME, f"{w.name}: mounts unknown Secret"
            if "configMap" in v:
                data = k8s.configmap_data(v["configMap"]["name"])
                assert data is not None, f"{w.name}: mounts ConfigMap {v['configMap']['name']}, which does not exist"
                for item in v["configMap"].get("items") or []:
                    assert item["key"] in data, (
                        f"{w.name}: ConfigMap {v['configMap']['name']} has no key {item['key']}")
    assert refs, "no workload reads the Secret"
    for wname, sname, key in refs:
        assert sname == SECRET_NAME, f"{wname}: reads Secret {sname}; only {SECRET_NAME} is provided"
        assert key in keys, f"{wname}: reads key {key} of {SECRET_NAME}, missing from {SECRET_TEMPLATE}"
    for wname, cname, key, optional in cm_refs:
        data = k8s.configmap_data(cname)
        assert data is not None, f"{wname}: reads ConfigMap {cname}, which does not exist"
        assert key in data or optional, f"{wname}: reads key {key} of ConfigMap {cname}, which it lacks"
    # Keys in the template that nothing reads are dead weight (or a typo).
    used = {k for _, s, k in refs if s == SECRET_NAME}
    assert not (keys - used), f"Secret template keys nothing reads: {sorted(keys - used)}"
    # The template must never be applied over the real Secret.
    kust = yaml.safe_load(k8s.read(KUSTOMIZATION))
    assert "secrets.yml" not in (kust.get("resources") or []), (
        "kustomization.yaml applies secrets.yml: its placeholders would overwrite the real Secret")
    assert not k8s.of_kind("Secret"), "the rendered manifests contain a Secret (real values must not be committed)"


def test_defect_env_references_defined_earlier(k8s):
    """MONGO_URI using $(VAR) before the variable is defined: $(VAR) only names earlier variables"""
    for w in k8s.workloads:
        for c in w.all_containers():
            defined = set()
            for ef in c.get("envFrom") or []:
                prefix = ef.get("prefix", "")
                if "configMapRef" in ef:
                    defined |= {prefix + k for k in (k8s.configmap_data(ef["configMapRef"]["name"]) or {})}
                if "secretRef" in ef:
                    defined |= {prefix + k for k in k8s.secret_template()[1]}
            for e in w.env(c):
                value = e.get("value")
                if isinstance(value, str):
                    for ref in re.findall(r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)", value):
                        assert ref in defined, (
                            f"{w.name}/{c['name']}: {e['name']} uses $({ref}) before {ref} is defined")
                    assert not re.search(r"(?<!\$)\$\{[A-Za-z_]", value), (
                        f"{w.name}/{c['name']}: {e['name']} uses ${{VAR}}, which Kubernetes does not expand")
                defined.add(e["name"])
            for field in ("command", "args"):
                for arg in c.get(field) or []:
                    for ref in re.findall(r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)", str(arg)):
                        assert ref in defined, f"{w.name}/{c['name']}: {field} uses $({ref}), which is not defined"
    # MONGO_URI resolves to a replica-set URI with credentials from the Secret.
    for name in ("payment-service-python", "review-service"):
        w = k8s.workload(name, "Deployment")
        assert w, f"no Deployment {name}"
        c = main_container(w)
        src = k8s.env_sources(w, c)
        uri = k8s.env_value(w, c, "MONGO_URI") or ""
        built_from_vars = "$(" in (src.get("MONGO_URI") or ("", ""))[1]
        assert uri.startswith("mongodb://") and "replicaSet=" in uri and built_from_vars, (
            f"{name}: MONGO_URI should be built from the credentials: {uri!r}")
        assert src.get("MONGO_PASSWORD", ("",))[0] == "secret", f"{name}: MONGO_PASSWORD must come from the Secret"


def test_defect_databases_created(k8s):
    """databases never created: userdb and payment_db are created by the PostgreSQL init script"""
    pg = k8s.workload("postgres", "StatefulSet")
    assert pg, "no StatefulSet postgres"
    c = main_container(pg)
    init_mounts = [vm for vm in c.get("volumeMounts", []) if vm["mountPath"].rstrip("/") == "/docker-entrypoint-initdb.d"]
    assert init_mounts, "postgres mounts nothing at /docker-entrypoint-initdb.d"
    vol = pg.volume(init_mounts[0]["name"])
    data = k8s.configmap_data((vol or {}).get("configMap", {}).get("name", "")) or {}
    assert data, "the init volume is not a ConfigMap with scripts"
    script = "\n".join(v for k, v in data.items() if k.endswith((".sql", ".sh")))
    created = set(re.findall(r"CREATE DATABASE\s+\"?([A-Za-z0-9_]+)", script, re.I))
    needed = set()
    for name, w in k8s.service_workloads().items():
        if w and SERVICES[name]["storage"] == "postgres":
            db = k8s.env_value(w, main_container(w), "POSTGRES_DB")
            assert db == SERVICES[name]["db"], f"{name}: POSTGRES_DB is {db!r}, expected {SERVICES[name]['db']}"
            assert k8s.env_value(w, main_container(w), "POSTGRES_HOST") == "postgres", (
                f"{name}: POSTGRES_HOST does not name the postgres Service")
            needed.add(db)
    assert needed >= {"userdb", "payment_db"}, f"services use databases {sorted(needed)}"
    assert not (needed - created), f"init script does not create {sorted(needed - created)}"
    assert k8s.get("Service", "postgres"), "no Service postgres"


def test_defect_mongo_replica_set_initiated(k8s):
    """Mongo replica set never initiated: a Job runs rs.initiate with every StatefulSet member"""
    sts = k8s.workload("mongodb", "StatefulSet")
    assert sts, "no StatefulSet mongodb"
    replicas = sts.obj["spec"].get("replicas", 1)
    args = main_container(sts).get("args") or main_container(sts).get("command") or []
    rs_name = args[args.index("--replSet") + 1] if "--replSet" in args else None
    assert rs_name, "mongod is not started with --replSet"
    assert "--keyFile" in args, "a replica set with authentication needs --keyFile"
    cfg = k8s.configmap_data(CONFIGMAP_NAME) or {}
    assert cfg.get("MONGO_REPLICA_SET") == rs_name, (
        f"ConfigMap MONGO_REPLICA_SET={cfg.get('MONGO_REPLICA_SET')!r}, mongod runs --replSet {rs_name}")
    svc_name = sts.obj["spec"]["serviceName"]
    svc = k8s.get("Service", svc_name)
    assert svc and svc["spec"].get("clusterIP") == "None", f"serviceName {svc_name} is not a headless Service"
    assert svc and svc["spec"].get("publishNotReadyAddresses") is True, (
        f"{svc_name} must publish not-ready addresses so members find each other")
    members = [f"mongodb-{i}.{svc_name}.{NAMESPACE}.svc.cluster.local:27017" for i in range(replicas)]
    assert cfg.get("MONGO_HOSTS", "").split(",") == members, (
        f"ConfigMap MONGO_HOSTS should list the {replicas} members {members}")
    jobs = [w for w in k8s.workloads if w.kind == "Job" and "rs.initiate" in k8s.job_script(w)]
    assert jobs, "no Job runs rs.initiate"
    w = jobs[0]
    script = k8s.job_script(w)
    env = {e["name"]: e.get("value") for e in w.env(main_container(w))}
    assert str(env.get("MONGO_MEMBERS")) == str(replicas), (
        f"Job {w.name}: MONGO_MEMBERS={env.get('MONGO_MEMBERS')}, StatefulSet has {replicas} replicas")
    assert f"mongodb-${{i}}.{svc_name}." in script, f"Job {w.name}: members are not the StatefulSet pod names"
    assert "NotYetInitialized" in script, f"Job {w.name}: rs.initiate must be skipped when the set exists"
    rs_src = k8s.env_sources(w, main_container(w)).get("MONGO_REPLICA_SET")
    assert rs_src and rs_src[0] == "configmap", f"Job {w.name}: replica set name must come from the ConfigMap"


def test_defect_rabbitmq_node_names_match_pods(k8s):
    """RabbitMQ cluster node names not matching pods"""
    sts = k8s.workload("rabbitmq", "StatefulSet")
    assert sts, "no StatefulSet rabbitmq"
    c = main_container(sts)
    svc_name = sts.obj["spec"]["serviceName"]
    svc = k8s.get("Service", svc_name)
    assert svc and svc["spec"].get("clusterIP") == "None", f"serviceName {svc_name} is not a headless Service"
    assert svc and svc["spec"].get("publishNotReadyAddresses") is True, (
        f"{svc_name} must publish not-ready addresses (peer discovery reads its endpoints)")
    src = k8s.env_sources(sts, c)
    nodename = src.get("RABBITMQ_NODENAME")
    assert nodename and nodename[0] == "literal", "RABBITMQ_NODENAME is not set"
    value = nodename[1]
    for var, val in src.items():
        if val[0] == "field" and val[1] == "metadata.name":
            value = value.replace(f"$({var})", "<pod>")
        if val[0] == "field" and val[1] == "metadata.namespace":
            value = value.replace(f"$({var})", NAMESPACE)
        if val[0] == "literal":
            value = value.replace(f"$({var})", val[1])
    expected = f"rabbit@<pod>.{svc_name}.{NAMESPACE}.svc.cluster.local"
    assert value == expected, f"RABBITMQ_NODENAME resolves to {value}, expected {expected}"
    assert src.get("RABBITMQ_USE_LONGNAME", ("", ""))[1] == "true", "RABBITMQ_USE_LONGNAME must be true"
    conf = ""
    for vm in c.get("volumeMounts", []):
        vol = sts.volume(vm["name"])
        if vol and "configMap" in vol and vm["mountPath"].rstrip("/") == "/etc/rabbitmq":
            conf = (k8s.configmap_data(vol["configMap"]["name"]) or {}).get("rabbitmq.conf", "")
            plugins = (k8s.configmap_data(vol["configMap"]["name"]) or {}).get("enabled_plugins", "")
            for plugin in ("rabbitmq_peer_discovery_k8s", "rabbitmq_management", "rabbitmq_prometheus"):
                assert plugin in plugins, f"enabled_plugins lacks {plugin}"
    settings = dict(re.findall(r"^\s*([a-z0-9_.]+)\s*=\s*(.+?)\s*$", conf, re.M))
    assert settings.get("cluster_formation.peer_discovery_backend") in ("rabbit_peer_discovery_k8s", "k8s"), (
        "peer discovery backend is not Kubernetes")
    assert settings.get("cluster_formation.k8s.service_name") == svc_name, (
        f"peer discovery reads Service {settings.get('cluster_formation.k8s.service_name')}, not {svc_name}")
    assert settings.get("cluster_formation.k8s.address_type") == "hostname", (
        "peer discovery must use address_type hostname (node names are DNS names, not IPs)")
    assert settings.get("cluster_formation.k8s.hostname_suffix") == f".{svc_name}.{NAMESPACE}.svc.cluster.local", (
        "hostname_suffix does not match the pods' DNS names")
    assert settings.get("prometheus.tcp.port") == "15692", "prometheus plugin must listen on 15692"
    # RBAC for peer discovery and the shared Erlang cookie.
    sa = sts.spec.get("serviceAccountName")
    assert sa and k8s.get("ServiceAccount", sa), "rabbitmq has no ServiceAccount"
    assert k8s.rbac_allows(sa, "endpoints", "get"), f"ServiceAccount {sa} may not get endpoints"
    cookie = [v for v in sts.spec.get("volumes", []) if "secret" in v and any(
        i["key"] == "RABBITMQ_ERLANG_COOKIE" for i in v["secret"].get("items") or [])]
    assert cookie, "the Erlang cookie is not taken from the Secret key RABBITMQ_ERLANG_COOKIE"
    assert sts.obj["spec"].get("podManagementPolicy") == "Parallel", (
        "podManagementPolicy must be Parallel (a restarted cluster waits for all its peers)")


def test_defect_grafana_provisioning_folders(k8s):
    """Grafana provisioning in the wrong folder"""
    g = k8s.workload("grafana", "Deployment")
    assert g, "no Deployment grafana"
    c = main_container(g)
    mounts = {vm["mountPath"].rstrip("/"): vm for vm in c.get("volumeMounts", [])}
    prov = {}
    for folder in ("datasources", "dashboards"):
        path = f"/etc/grafana/provisioning/{folder}"
        vm = mounts.get(path)
        assert vm, f"nothing mounted at {path}"
        vol = g.volume(vm["name"])
        data = k8s.configmap_data((vol or {}).get("configMap", {}).get("name", ""))
        assert data, f"{path} is not a ConfigMap"
        for k, v in data.items():
            assert k.endswith((".yml", ".yaml")), f"{path}/{k} is not a YAML provisioning file"
            prov[folder] = yaml.safe_load(v)
    ds = prov.get("datasources") or {}
    uids = {d.get("uid") for d in ds.get("datasources", [])}
    prom = [d for d in ds.get("datasources", []) if d.get("type") == "prometheus"]
    assert prom, "no Prometheus data source"
    hp = url_host_port(prom[0]["url"])
    svc = hp and k8s.service_for_host(hp[0])
    assert (svc and any(sp["port"] == hp[1] for sp in svc["spec"]["ports"])
            and any(w.app == "prometheus" for w in k8s.pods_of_service(svc))), (
        f"Prometheus data source URL {prom[0]['url']} is not the Prometheus Service")
    dashboards_seen = []
    for provider in (prov.get("dashboards") or {}).get("providers", []):
        path = (provider.get("options") or {}).get("path", "").rstrip("/")
        vm = mounts.get(path)
        assert vm, f"dashboard provider reads {path}, where nothing is mounted"
        vol = g.volume(vm["name"])
        data = k8s.configmap_data((vol or {}).get("configMap", {}).get("name", "")) or {}
        for k, v in data.items():
            if k.endswith(".json"):
                dashboards_seen.append(json.loads(v))
    assert dashboards_seen, "no dashboard JSON reaches the dashboard provider's folder"
    panels = [pl for d in dashboards_seen for pl in d.get("panels", [])]
    titles = " | ".join(pl.get("title", "").lower() for pl in panels)
    exprs = [t.get("expr", "") for pl in panels for t in pl.get("targets", [])]
    for want, needle in (("request rate", "http_requests_total"), ("p50", "histogram_quantile(0.5,"),
                         ("p95", "histogram_quantile(0.95,"), ("p99", "histogram_quantile(0.99,"),
                         ("error rate", 'status=~"5.."'), ("service health", "up{"),
                         ("memory", "process_resident_memory_bytes"), ("cpu", "process_cpu_seconds_total"),
                         ("circuit breaker", "circuit_breaker_state"), ("message", "messages_published_total"),
                         ("dead-letter", ".dlq")):
        assert any(needle in e for e in exprs) and (want in titles or want.startswith("p")), (
            f"dashboard lacks a '{want}' panel (query with {needle})")
    for pl in panels:
        dsref = (pl.get("datasource") or {}).get("uid")
        assert dsref in uids, f"panel {pl.get('title')!r} uses data source {dsref!r}, not provisioned"
        for t in pl.get("targets", []):
            for name in promql.metric_names(t.get("expr", "")):
                assert name in EMITTED_METRICS or any(fnmatch.fnmatch(name, pt) for pt in DASHBOARD_METRIC_PATTERNS), (
                    f"panel {pl.get('title')!r} queries {name}, which nothing exports")
    env = k8s.env_sources(g, c)
    assert (env.get("GF_SECURITY_ADMIN_PASSWORD", ("",))[0] == "secret"
            and env["GF_SECURITY_ADMIN_PASSWORD"][2] == "GRAFANA_PASSWORD"), (
        "Grafana's admin password must come from the Secret key GRAFANA_PASSWORD")


def test_defect_prometheus_single_writer(k8s):
    """two Prometheus replicas on one ReadWriteOnce volume"""
    pvcs = {d["metadata"]["name"]: d for d in k8s.of_kind("PersistentVolumeClaim")}
    prom = [w for w in k8s.workloads if w.app == "prometheus"]
    assert len(prom) == 1, f"expected one Prometheus workload, found {[w.name for w in prom]}"
    for w in k8s.workloads:
        if w.kind not in ("Deployment", "DaemonSet"):
            continue
        for v in w.spec.get("volumes") or []:
            claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
            if not claim:
                continue
            pvc = pvcs.get(claim)
            assert pvc, f"{w.name}: claims {claim}, which does not exist"
            if "ReadWriteOnce" in pvc["spec"].get("accessModes", []) or "ReadWriteOncePod" in pvc["spec"].get("accessModes", []):
                assert w.kind == "Deployment" and w.obj["spec"].get("replicas", 1) == 1, (
                    f"{w.kind} {w.name}: more than one pod on ReadWriteOnce volume {claim}")
                assert (w.obj["spec"].get("strategy") or {}).get("type") == "Recreate", (
                    f"{w.name}: a rolling update would run two pods on ReadWriteOnce volume {claim}; use Recreate")
                hpas = [h for h in k8s.of_kind("HorizontalPodAutoscaler")
                        if h["spec"]["scaleTargetRef"]["name"] == w.name]
                assert not hpas, f"{w.name}: an HPA would scale a single-writer Deployment"


def test_defect_dead_letter_queues(k8s):
    """no dead-letter queues: the broker ships a dead-letter exchange, queue and policy"""
    jobs = [w for w in k8s.workloads if w.kind == "Job" and "rabbitmqadmin" in k8s.job_script(w)]
    assert jobs, "no Job configures RabbitMQ (dead-letter exchange and policy)"
    script = k8s.job_script(jobs[0])
    ex = re.search(r"declare exchange name=(\S+)", script)
    q = re.search(r"declare queue name=(\S+)", script)
    b = re.search(r"declare binding source=(\S+) destination=(\S+)", script)
    pol = re.search(r"declare policy .*?definition='(\{.*?\})'", script, re.S)
    assert ex and q and b and pol, "the setup Job must declare a DLX exchange, a DLQ, a binding and a policy"
    assert b.group(1) == ex.group(1) and b.group(2) == q.group(1), "the DLQ is not bound to the DLX"
    definition = json.loads(pol.group(1))
    assert definition.get("dead-letter-exchange") == ex.group(1), (
        f"the policy sets dead-letter-exchange {definition.get('dead-letter-exchange')!r}, not {ex.group(1)}")
    assert "apply-to=queues" in script, "the dead-letter policy must apply to queues"
    rabbitmq_conf = (k8s.configmap_data("rabbitmq-config") or {}).get("rabbitmq.conf", "")
    assert "prometheus.return_per_object_metrics = true" in rabbitmq_conf, (
        "RabbitMQ must export per-queue metrics (DLQ depth)")


def test_defect_tokens_verified_by_every_service(k8s):
    """tokens verified only by the user service: every service gets the JWT secret"""
    for name, w in k8s.service_workloads().items():
        assert w, f"no Deployment {name}"
        src = k8s.env_sources(w, main_container(w))
        assert src.get("JWT_SECRET") == ("secret", SECRET_NAME, "JWT_SECRET"), (
            f"{name}: JWT_SECRET must come from {SECRET_NAME}/JWT_SECRET")
        assert k8s.env_value(w, main_container(w), "JWT_ALGORITHM") == "HS512", f"{name}: JWT_ALGORITHM must be HS512"
