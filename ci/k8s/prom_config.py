#!/usr/bin/env python3
"""Prepare k8s/monitoring/prometheus.yml for `promtool check config`.

Debian's Prometheus/promtool (the only build installable here) is compiled
without Kubernetes service discovery, so it rejects `kubernetes_sd_configs`
as an unknown field. This script

  1. validates every kubernetes_sd_configs block itself (known keys, role,
     namespaces, selectors, and that the relabelling only reads
     __meta_kubernetes_* labels that the block's role provides), and
  2. writes a copy of the configuration in which each such block is replaced
     by an empty static_configs, the service-account files the cluster
     mounts are replaced by placeholder files, and the rule files sit at the
     same relative path, so promtool checks everything else (relabel
     regexes, scrape settings, alerting, rule files) exactly as written.

usage: prom_config.py CONFIG OUTDIR   (prints OUTDIR/prometheus.yml)
"""

import glob
import os
import re
import shutil
import sys

import yaml

HTTP_CLIENT_KEYS = {
    "basic_auth", "authorization", "oauth2", "proxy_url", "no_proxy", "proxy_from_environment",
    "proxy_connect_header", "follow_redirects", "enable_http2", "tls_config", "bearer_token",
    "bearer_token_file",
}
K8S_SD_KEYS = {"api_server", "role", "kubeconfig_file", "namespaces", "selectors", "attach_metadata"} | HTTP_CLIENT_KEYS
ROLES = {"node", "service", "pod", "endpoints", "endpointslice", "ingress"}

# __meta_kubernetes_* labels per role (Prometheus documentation), as regexes.
_COMMON = [r"namespace", r"namespace_(label|labelpresent|annotation|annotationpresent)_.+"]
ROLE_META = {
    "node": [r"node_name", r"node_provider_id", r"node_(label|labelpresent|annotation|annotationpresent)_.+",
             r"node_address_.+"],
    "service": _COMMON + [r"service_name", r"service_(label|labelpresent|annotation|annotationpresent)_.+",
                          r"service_port_name", r"service_port_number", r"service_port_protocol",
                          r"service_cluster_ip", r"service_loadbalancer_ip", r"service_external_name",
                          r"service_type"],
    "pod": _COMMON + [r"pod_name", r"pod_ip", r"pod_(label|labelpresent|annotation|annotationpresent)_.+",
                      r"pod_container_init", r"pod_container_name", r"pod_container_id", r"pod_container_image",
                      r"pod_container_port_name", r"pod_container_port_number", r"pod_container_port_protocol",
                      r"pod_ready", r"pod_phase", r"pod_node_name", r"pod_host_ip", r"pod_uid",
                      r"pod_controller_kind", r"pod_controller_name", r"node_(label|labelpresent|annotation|annotationpresent)_.+"],
}
ROLE_META["endpoints"] = ROLE_META["service"] + ROLE_META["pod"] + [
    r"endpoints_name", r"endpoints_(label|labelpresent|annotation|annotationpresent)_.+",
    r"endpoint_hostname", r"endpoint_node_name", r"endpoint_ready", r"endpoint_port_name",
    r"endpoint_port_protocol", r"endpoint_address_target_kind", r"endpoint_address_target_name"]
ROLE_META["endpointslice"] = ROLE_META["service"] + ROLE_META["pod"] + [
    r"endpointslice_.+"]
ROLE_META["ingress"] = _COMMON + [r"ingress_name", r"ingress_(label|labelpresent|annotation|annotationpresent)_.+",
                                  r"ingress_class_name", r"ingress_scheme", r"ingress_path"]

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount/"


def validate_k8s_sd(job):
    """Errors in the kubernetes_sd_configs of one scrape job."""
    errors = []
    name = job.get("job_name", "?")
    roles = set()
    for i, sd in enumerate(job.get("kubernetes_sd_configs") or []):
        where = f"job {name}: kubernetes_sd_configs[{i}]"
        if not isinstance(sd, dict):
            errors.append(f"{where}: not a mapping")
            continue
        for key in sd:
            if key not in K8S_SD_KEYS:
                errors.append(f"{where}: unknown field {key!r}")
        role = sd.get("role")
        if role not in ROLES:
            errors.append(f"{where}: role {role!r} is not one of {sorted(ROLES)}")
        else:
            roles.add(role)
        ns = sd.get("namespaces")
        if ns is not None:
            if not isinstance(ns, dict) or set(ns) - {"names", "own_namespace"}:
                errors.append(f"{where}: namespaces accepts only names and own_namespace")
            elif not isinstance(ns.get("names", []), list):
                errors.append(f"{where}: namespaces.names must be a list")
        for j, sel in enumerate(sd.get("selectors") or []):
            if not isinstance(sel, dict) or set(sel) - {"role", "label", "field"} or sel.get("role") not in ROLES:
                errors.append(f"{where}: selectors[{j}] is invalid")
    if roles:
        allowed = [re.compile(p + r"$") for r in roles for p in ROLE_META[r]]
        used = set()
        for rc in job.get("relabel_configs") or []:
            for label in rc.get("source_labels") or []:
                used.add(label)
            if rc.get("action") in ("labelmap",):
                # e.g. regex: __meta_kubernetes_node_label_(.+)
                m = re.match(r"__meta_kubernetes_([a-z_]+?)_\(", rc.get("regex", ""))
                if m:
                    used.add("__meta_kubernetes_" + m.group(1) + "_x")
        for label in sorted(used):
            if label.startswith("__meta_kubernetes_"):
                rest = label[len("__meta_kubernetes_"):]
                if not any(p.match(rest) for p in allowed):
                    errors.append(f"job {name}: relabelling reads {label}, which role(s) {sorted(roles)} do not provide")
    return errors


def prepare(config_path, outdir):
    with open(config_path, encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    errors = []
    os.makedirs(outdir, exist_ok=True)
    placeholders = {}

    def placeholder(path):
        if path not in placeholders:
            local = os.path.join(outdir, "serviceaccount", os.path.basename(path))
            os.makedirs(os.path.dirname(local), exist_ok=True)
            with open(local, "w") as fh:
                fh.write("placeholder\n")
            placeholders[path] = local
        return placeholders[path]

    def rewrite_files(node):
        if isinstance(node, dict):
            for k, v in list(node.items()):
                if isinstance(v, str) and v.startswith(SA_DIR):
                    node[k] = placeholder(v)
                else:
                    rewrite_files(v)
        elif isinstance(node, list):
            for v in node:
                rewrite_files(v)

    for job in cfg.get("scrape_configs") or []:
        if "kubernetes_sd_configs" in job:
            errors += validate_k8s_sd(job)
            del job["kubernetes_sd_configs"]
            job.setdefault("static_configs", []).append({"targets": []})
    rewrite_files(cfg)

    # Rule files keep their relative location next to the configuration.
    src_dir = os.path.dirname(os.path.abspath(config_path))
    for pattern in cfg.get("rule_files") or []:
        if os.path.isabs(pattern):
            errors.append(f"rule_files entry {pattern!r} is absolute; keep it relative to the config file")
            continue
        matches = glob.glob(os.path.join(src_dir, pattern))
        if not matches:
            errors.append(f"rule_files entry {pattern!r} matches no file next to {config_path}")
        for path in matches:
            dest = os.path.join(outdir, os.path.relpath(path, src_dir))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copyfile(path, dest)

    out = os.path.join(outdir, "prometheus.yml")
    with open(out, "w", encoding="utf-8") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
    return out, errors


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    out, errors = prepare(argv[1], argv[2])
    for e in errors:
        print(f"kubernetes_sd_configs: {e}", file=sys.stderr)
    print(out)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
