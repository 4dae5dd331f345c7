#!/usr/bin/env python3
"""Checks on rendered kustomize output that no generic tool makes.

For each rendered file (one per kustomization):
- writes the built-in kinds to OUT_DIR/NAME.builtin.yaml for kubernetes-validate;
- validates ServiceMonitors against the local schema (the only CRD we ship; kubernetes-validate
  has no schema for it), and rejects any other kind it does not know, so nothing goes
  unvalidated;
- checks the invariants docs/kubernetes.md promises: config mounted as a directory (no subPath,
  or live reload never sees a change), private key Secret readable by its owner only and no
  fsGroup (which would make it group-readable), no service-account token;
- for overlays, checks that gateway.yaml agrees with the DaemonSet: tunnel and metrics ports,
  key path, state directory, admin socket, and the config path the container is started with.

Usage: check_rendered.py SERVICEMONITOR_SCHEMA OUT_DIR RENDERED.yaml...
"""

import json
import sys
from pathlib import Path, PurePosixPath

import jsonschema
import yaml

BUILTIN_API_GROUPS = {"v1", "apps/v1"}
CRD_SCHEMAS = {("monitoring.coreos.com/v1", "ServiceMonitor")}
CONFIG_KEY = "gateway.yaml"


class Failures:
    def __init__(self):
        self.messages = []

    def add(self, where, message):
        self.messages.append(f"{where}: {message}")


def by_kind(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def port_of(address):
    """Port of "host:port" / "[v6]:port", or None."""
    host, sep, port = str(address).rpartition(":")
    return int(port) if sep and host and port.isdigit() else None


def inside(path, directory):
    return PurePosixPath(directory) in PurePosixPath(path).parents


def check_daemonset(where, ds, failures):
    pod = ds["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    if pod.get("automountServiceAccountToken") is not False:
        failures.add(where, "pod must set automountServiceAccountToken: false (the gateway never calls the API)")
    if "fsGroup" in pod.get("securityContext", {}):
        failures.add(where, "no fsGroup: the kubelet would make the private key group-readable and the gateway refuses it")
    containers = {c["name"]: c for c in pod["containers"]}
    gateway = containers.get("gateway")
    if gateway is None:
        failures.add(where, "no container named gateway")
        return None
    mounts = {}
    for m in gateway.get("volumeMounts", []):
        volume = volumes.get(m["name"], {})
        if "subPath" in m or "subPathExpr" in m:
            if "configMap" in volume or "secret" in volume:
                failures.add(where, f"volumeMount {m['name']} uses subPath: the kubelet never updates it, so live reload and key rotation break")
        mounts[m["name"]] = (m["mountPath"], volume)
    for name, (_, volume) in mounts.items():
        secret = volume.get("secret")
        if secret is not None:
            mode = secret.get("defaultMode", 0o644)
            items = [i.get("mode", mode) for i in secret.get("items", [])] or [mode]
            if any(m & 0o077 for m in items):
                failures.add(where, f"Secret volume {name} mode {oct(mode)} is readable by group/others; the gateway refuses such keys")
    return gateway, mounts


def mount_of(mounts, kind):
    """Mount path of the first volume of this kind (configMap, secret, emptyDir, hostPath)."""
    return next((path for path, volume in mounts.values() if kind in volume), None)


def check_config(where, gateway, mounts, configmaps, failures):
    config_dir = mount_of(mounts, "configMap")
    configs = [cm for cm in configmaps if CONFIG_KEY in cm.get("data", {})]
    if len(configs) != 1:
        failures.add(where, f"expected exactly one ConfigMap with {CONFIG_KEY}, found {len(configs)}")
        return
    try:
        config = yaml.safe_load(configs[0]["data"][CONFIG_KEY])
    except yaml.YAMLError as e:
        failures.add(where, f"{CONFIG_KEY} is not YAML: {e}")
        return
    if not isinstance(config, dict):
        failures.add(where, f"{CONFIG_KEY} is not a mapping")
        return
    argv = gateway.get("command", []) + gateway.get("args", [])
    expected_config_path = f"{config_dir}/{CONFIG_KEY}"
    if "--config" not in argv or argv[argv.index("--config") + 1:][:1] != [expected_config_path]:
        failures.add(where, f"container must be started with --config {expected_config_path}: {argv}")
    ports = {(p["containerPort"], p.get("protocol", "TCP")): p["name"] for p in gateway.get("ports", [])}
    listen_port = config.get("listen_port", 4500)
    if (listen_port, "UDP") not in ports:
        failures.add(where, f"{CONFIG_KEY} listen_port {listen_port} is not a UDP containerPort of the gateway")
    metrics_port = port_of(config.get("metrics_address", "0.0.0.0:9898"))
    if ports.get((metrics_port, "TCP")) != "metrics":
        failures.add(where, f"{CONFIG_KEY} metrics_address port {metrics_port} is not the containerPort named metrics (probes and Service use it)")
    key_dir = mount_of(mounts, "secret")
    key_file = config.get("private_key_file", "")
    if key_dir is None or not inside(key_file, key_dir):
        failures.add(where, f"{CONFIG_KEY} private_key_file {key_file!r} is not inside the Secret mount {key_dir}")
    state_dir = config.get("state_dir", "/var/lib/gateway")
    host_dirs = [path for path, volume in mounts.values()
                 if volume.get("hostPath", {}).get("type") == "DirectoryOrCreate"]
    if state_dir not in host_dirs:
        failures.add(where, f"{CONFIG_KEY} state_dir {state_dir} is not a hostPath mount; allocations and flows would not survive a restart")
    socket = config.get("admin_socket", "/run/gateway/admin.sock")
    run_dir = mount_of(mounts, "emptyDir")
    if run_dir is None or not inside(socket, run_dir):
        failures.add(where, f"{CONFIG_KEY} admin_socket {socket} is not inside a writable emptyDir (the root filesystem is read-only)")
    # Absent means /var/run/wireguard/<tunnel>.sock, on the read-only root: `wg show` would
    # find nothing and the gateway would log a warning at every start.
    uapi = config.get("uapi_socket", f"/var/run/wireguard/{config.get('tunnel', {}).get('name', 'gw0')}.sock")
    if uapi != "" and (run_dir is None or not inside(uapi, run_dir)):
        failures.add(where, f"{CONFIG_KEY} uapi_socket {uapi} is not inside a writable emptyDir (the root filesystem is read-only); set it under {run_dir} or to \"\"")


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    schema = json.loads(Path(sys.argv[1]).read_text())
    out_dir = Path(sys.argv[2])
    failures = Failures()
    for rendered in map(Path, sys.argv[3:]):
        where = rendered.stem
        docs = [d for d in yaml.safe_load_all(rendered.read_text()) if d]
        builtin = []
        for doc in docs:
            api_kind = (doc.get("apiVersion"), doc.get("kind"))
            name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
            if api_kind[0] in BUILTIN_API_GROUPS:
                builtin.append(doc)
            elif api_kind in CRD_SCHEMAS:
                for error in jsonschema.Draft202012Validator(schema).iter_errors(doc):
                    path = ".".join(map(str, error.absolute_path)) or "(root)"
                    failures.add(f"{where} {name}", f"{path}: {error.message}")
            else:
                failures.add(where, f"{name} ({api_kind[0]}) has no schema to validate against")
        (out_dir / f"{where}.builtin.yaml").write_text(yaml.safe_dump_all(builtin, sort_keys=False))
        daemonsets = by_kind(docs, "DaemonSet")
        if len(daemonsets) != 1:
            failures.add(where, f"expected one DaemonSet, found {len(daemonsets)}")
            continue
        checked = check_daemonset(where, daemonsets[0], failures)
        configmaps = by_kind(docs, "ConfigMap")
        if checked and configmaps:  # the base has no config; overlays must
            check_config(where, *checked, configmaps, failures)
        elif checked and where != "base":
            failures.add(where, f"overlay renders no ConfigMap with {CONFIG_KEY}")
        print(f"check_rendered: {where}: {len(docs)} objects")
    for message in failures.messages:
        print(f"check_rendered: {message}", file=sys.stderr)
    return 1 if failures.messages else 0


if __name__ == "__main__":
    sys.exit(main())
