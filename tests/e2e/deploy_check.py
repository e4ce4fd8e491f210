#!/usr/bin/env python3
"""Checks of the deployment files against each other and against the real binary, for
tests/e2e/deploy_k8s.sh and deploy_compose.sh. Prints one line per failed check; exits 1
if any failed.

  deploy_check.py k8s DEPLOY_DIR LISTINGD_BINARY
  deploy_check.py compose COMPOSE_CONFIG_YAML DEPLOY_DIR LISTINGD_BINARY
      (COMPOSE_CONFIG_YAML: what `docker-compose config` printed)

Against the binary: every LISTINGD_* variable the files set is one `listingd serve --help`
names, and the binary, started with the files' host and port (in a network namespace of
its own, where that port is free and only loopback exists), answers 200 on each path a
probe or health check asks for.
"""
import ipaddress
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

failures = []


def check(cond, message):
    if not cond:
        failures.append(message)
    return cond


# Variables of the PostgreSQL interface (issue 11): checked only once the binary has it.
POSTGRES_ONLY = {"LISTINGD_DB_PASSWORD_FILE"}


def check_binary(binary, env, probes):
    """env: the LISTINGD_* variables the files set; probes: {path: who asks for it}."""
    help_text = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True).stdout
    known = set(re.findall(r"Env:(LISTINGD_[A-Z0-9_]+)", help_text))
    check(known, "`listingd serve --help` names no LISTINGD_ variable")
    has_postgres = "postgres" in help_text.lower()
    for name in sorted(env):
        if name in POSTGRES_ONLY and not has_postgres:
            print(f"not checked: {name} (this binary has no PostgreSQL backend yet)")
            continue
        check(name in known, f"{name} is set, but `listingd serve --help` knows no such variable")

    port = int(env.get("LISTINGD_PORT", "8080"))
    host = env.get("LISTINGD_HOST", "127.0.0.1")
    with tempfile.TemporaryDirectory() as tmp:
        # The files' own settings but the database (SQLite here: the paths are the same on
        # every backend) and the password file.
        run_env = {k: v for k, v in env.items() if k not in {"LISTINGD_DB"} | POSTGRES_ONLY}
        run_env.update(PATH=os.environ.get("PATH", "/usr/bin:/bin"), LISTINGD_HOST=host,
                       LISTINGD_PORT=str(port), LISTINGD_DB=os.path.join(tmp, "probe.db"))
        # PORT 0 (no namespace): the port listingd reports it took.
        script = tmp + "/probe.sh"
        with open(script, "w") as f:
            f.write("""ip link set lo up 2>/dev/null || true
"$1" serve --log-level off >"$2/out" 2>&1 &
pid=$!
tmp=$2
shift 2
port=$LISTINGD_PORT
for _ in $(seq 200); do
  [ "$port" != 0 ] || port=$(grep -o '127.0.0.1:[0-9]*' "$tmp/out" | head -1 | cut -d: -f2)
  [ -n "$port" ] && curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break
  sleep 0.05
done
for path in "$@"; do echo "$path $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$path")"; done
kill $pid; wait $pid
""")
        wrap = []
        if shutil.which("unshare"):
            for w in (["unshare", "-n"], ["unshare", "-rn"]):
                if subprocess.run(w + ["true"], capture_output=True).returncode == 0:
                    wrap = w
                    break
        if not wrap:
            # No namespace: the port may be taken here, so any free one; the paths still count.
            print(f"note: no network namespace (unshare): probes checked on a free port, not {port}")
            run_env["LISTINGD_PORT"] = "0"
            run_env["LISTINGD_HOST"] = "127.0.0.1"
        out = subprocess.run(wrap + ["bash", script, binary, tmp] + sorted(probes), env=run_env,
                             capture_output=True, text=True, timeout=60)
        answers = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
        for path, who in sorted(probes.items()):
            code = answers.get(path, "none")
            check(code == "200", f"{who}: GET {path} on the binary (host {host}, port {port}) "
                                 f"answered {code}, not 200")
        if any(answers.get(p) != "200" for p in probes) and os.path.exists(tmp + "/out"):
            print("the binary said:\n" + open(tmp + "/out").read()[-2000:])
        print("binary: " + ", ".join(f"GET {p} {answers.get(p, 'none')}" for p in sorted(probes))
              + f" on {host}:{port}" + (f" ({' '.join(wrap)})" if wrap else ""))


def load_all(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def get(obj, *keys, default=None):
    for k in keys:
        if isinstance(obj, dict) and k in obj:
            obj = obj[k]
        elif isinstance(obj, list) and isinstance(k, int) and k < len(obj):
            obj = obj[k]
        else:
            return default
    return obj


def dockerfile_env(deploy_dir):
    env = {}
    text = open(os.path.join(deploy_dir, "Dockerfile")).read().replace("\\\n", " ")
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(re.findall(r"(\w+)=(\S+)", line))
    return env


def probe_seconds(text):
    m = re.fullmatch(r"(\d+)s?", str(text).strip())
    return int(m.group(1)) if m else None


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_k8s(deploy_dir, binary):
    k8s = os.path.join(deploy_dir, "k8s")
    kustomization = yaml.safe_load(open(os.path.join(k8s, "kustomization.yaml")))
    docs = []
    for name in kustomization.get("resources", []):
        for d in load_all(os.path.join(k8s, name)):
            check(d.get("apiVersion") and d.get("kind") and get(d, "metadata", "name"),
                  f"{name}: a document without apiVersion, kind or metadata.name")
            docs.append(d)
    secret_example = load_all(os.path.join(k8s, "secret.example.yaml"))
    by_kind = {}
    for d in docs + secret_example:
        by_kind.setdefault(d.get("kind"), []).append(d)
    for kind, api in (("Deployment", "apps/v1"), ("Service", "v1"),
                      ("HorizontalPodAutoscaler", "autoscaling/v2"),
                      ("PodDisruptionBudget", "policy/v1"), ("ConfigMap", "v1"), ("Secret", "v1")):
        check(len(by_kind.get(kind, [])) == 1, f"expected one {kind}, found {len(by_kind.get(kind, []))}")
        if by_kind.get(kind):
            check(by_kind[kind][0].get("apiVersion") == api,
                  f"{kind}: apiVersion {by_kind[kind][0].get('apiVersion')}, not {api}")
    if failures:
        return
    dep, svc = by_kind["Deployment"][0], by_kind["Service"][0]
    hpa, pdb = by_kind["HorizontalPodAutoscaler"][0], by_kind["PodDisruptionBudget"][0]
    cm, secret = by_kind["ConfigMap"][0], by_kind["Secret"][0]

    pod = get(dep, "spec", "template", "spec", default={})
    labels = get(dep, "spec", "template", "metadata", "labels", default={})
    check(selects(get(dep, "spec", "selector", "matchLabels"), labels),
          "Deployment: spec.selector does not select its own pods")
    check(selects(get(svc, "spec", "selector"), labels), "Service: its selector misses the pods")
    check(selects(get(pdb, "spec", "selector", "matchLabels"), labels),
          "PodDisruptionBudget: its selector misses the pods")
    check(get(hpa, "spec", "scaleTargetRef", "kind") == "Deployment" and
          get(hpa, "spec", "scaleTargetRef", "name") == get(dep, "metadata", "name"),
          "HorizontalPodAutoscaler: scaleTargetRef is not the Deployment")
    lo, hi = get(hpa, "spec", "minReplicas", default=1), get(hpa, "spec", "maxReplicas", default=0)
    check(2 <= lo <= hi, f"HorizontalPodAutoscaler: minReplicas {lo}, maxReplicas {hi}: want 2 <= min <= max")
    check(get(hpa, "spec", "metrics"), "HorizontalPodAutoscaler: no metrics")
    check((get(pdb, "spec", "minAvailable") is None) != (get(pdb, "spec", "maxUnavailable") is None),
          "PodDisruptionBudget: exactly one of minAvailable, maxUnavailable")
    if isinstance(get(pdb, "spec", "minAvailable"), int):
        check(get(pdb, "spec", "minAvailable") < lo, "PodDisruptionBudget: minAvailable leaves no pod to evict")

    containers = pod.get("containers", [])
    check(len(containers) == 1, f"Deployment: {len(containers)} containers, expected 1")
    c = containers[0] if containers else {}
    ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}

    def port_of(ref, who):
        number = ports.get(ref, ref) if isinstance(ref, str) else ref
        check(isinstance(number, int) and number in ports.values(),
              f"{who}: port {ref!r} is no port of the container ({ports})")
        return number

    # The container's environment: the ConfigMap's, then env (later wins), as the kubelet does.
    env = {}
    for src in c.get("envFrom", []):
        name = get(src, "configMapRef", "name")
        check(name == get(cm, "metadata", "name"), f"Deployment: envFrom names ConfigMap {name!r}, not in kustomization")
        env.update({k: str(v) for k, v in (cm.get("data") or {}).items()})
    for e in c.get("env", []):
        env[e["name"]] = str(e.get("value", ""))
    image_env = dockerfile_env(deploy_dir)
    listen_port = int(env.get("LISTINGD_PORT", image_env.get("LISTINGD_PORT", 8080)))
    host = env.get("LISTINGD_HOST", image_env.get("LISTINGD_HOST", "127.0.0.1"))
    check(host in ("0.0.0.0", "::"), f"LISTINGD_HOST={host}: the pod would not listen on its own address")
    check(listen_port in ports.values(), f"listingd listens on {listen_port}, the container declares {ports}")
    check(port_of(get(svc, "spec", "ports", 0, "targetPort"), "Service targetPort") == listen_port,
          "Service: targetPort is not the port listingd listens on")

    probes = {}
    for kind, want in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        p = c.get(kind)
        if not check(p, f"Deployment: no {kind}"):
            continue
        path = get(p, "httpGet", "path")
        check(path == want, f"Deployment: {kind} asks for {path}, not {want}")
        check(port_of(get(p, "httpGet", "port"), kind) == listen_port, f"{kind}: not listingd's port")
        probes[path] = f"Deployment {kind}"
    if c.get("startupProbe"):
        probes.setdefault(get(c, "startupProbe", "httpGet", "path"), "Deployment startupProbe")
        check(port_of(get(c, "startupProbe", "httpGet", "port"), "startupProbe") == listen_port,
              "startupProbe: not listingd's port")

    # The database URL from the Secret, never a literal.
    db = [e for e in c.get("env", []) if e["name"] == "LISTINGD_DB"]
    ref = get(db, 0, "valueFrom", "secretKeyRef", default={})
    check(ref.get("name") == get(secret, "metadata", "name") and ref.get("key") in (secret.get("stringData") or {}),
          "Deployment: LISTINGD_DB does not come from a key of the Secret listingd-db")
    check("LISTINGD_DB" not in (cm.get("data") or {}), "the ConfigMap sets LISTINGD_DB: it belongs in the Secret")
    pw_file = env.get("LISTINGD_DB_PASSWORD_FILE", "")
    mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    pw_ok = False
    for name, path in mounts.items():
        v = vols.get(name, {})
        if get(v, "secret", "secretName") == get(secret, "metadata", "name"):
            for item in get(v, "secret", "items", default=[]):
                if os.path.join(path, item["path"]) == pw_file and item["key"] in (secret.get("stringData") or {}):
                    pw_ok = True
    check(pw_ok, f"LISTINGD_DB_PASSWORD_FILE={pw_file!r} is not a file of the Secret mounted in the pod")

    # Graceful stop within the grace period: preStop sleep + listingd's stop.
    grace = pod.get("terminationGracePeriodSeconds", 30)
    stop = int(env.get("LISTINGD_SHUTDOWN_TIMEOUT", 30))  # listingd's default
    cmd = get(c, "lifecycle", "preStop", "exec", "command", default=[])
    sleep = get(c, "lifecycle", "preStop", "sleep", "seconds")
    if sleep is None and len(cmd) == 2 and cmd[0] in ("sleep", "/bin/sleep"):
        sleep = probe_seconds(cmd[1])
    check(sleep and sleep >= 3, f"Deployment: no preStop sleep (found {cmd or sleep})")
    check(sleep and grace > sleep + stop,
          f"terminationGracePeriodSeconds {grace} <= preStop sleep {sleep} + LISTINGD_SHUTDOWN_TIMEOUT {stop}")
    check(get(dep, "spec", "replicas") is None, "Deployment: replicas set: every apply would fight the autoscaler")

    # Resources and the sandbox.
    res = c.get("resources", {})
    check(get(res, "requests", "cpu") and get(res, "requests", "memory") and get(res, "limits", "memory"),
          "Deployment: resources need requests (cpu, memory; the autoscaler's base) and a memory limit")
    sc, psc = c.get("securityContext", {}), pod.get("securityContext", {})
    check(sc.get("runAsNonRoot") or psc.get("runAsNonRoot"), "not runAsNonRoot")
    check((sc.get("runAsUser") or psc.get("runAsUser") or 0) != 0, "runAsUser is root")
    check(sc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem is not true")
    check(sc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation is not false")
    check("ALL" in get(sc, "capabilities", "drop", default=[]), "capabilities: ALL not dropped")
    check(get(psc, "seccompProfile", "type") == "RuntimeDefault", "no RuntimeDefault seccomp profile")
    uid = re.search(r"--uid (\d+)", open(os.path.join(deploy_dir, "Dockerfile")).read())
    check(uid and int(uid.group(1)) == (sc.get("runAsUser") or psc.get("runAsUser")),
          "runAsUser is not the image's user (deploy/Dockerfile: useradd --uid)")
    check(any(m == "/tmp" for m in mounts.values()), "read-only root without a writable /tmp")

    check_trusted_proxy(env.get("LISTINGD_TRUSTED_PROXY"), None, "ConfigMap")
    check_binary(binary, {k: v for k, v in env.items() if k.startswith("LISTINGD_")}, probes)


def check_trusted_proxy(value, proxy_address, who):
    if not check(value, f"{who}: no LISTINGD_TRUSTED_PROXY: every client would count as the proxy"):
        return
    try:
        nets = [ipaddress.ip_network(n.strip(), strict=False) for n in value.split(",")]
        address = ipaddress.ip_address(proxy_address) if proxy_address else None
    except ValueError as e:
        check(False, f"{who}: {e}")
        return
    if address:
        check(any(address in n for n in nets),
              f"{who}: LISTINGD_TRUSTED_PROXY={value} does not cover nginx's address {proxy_address}")


def check_compose(config_path, deploy_dir, binary):
    cfg = yaml.safe_load(open(config_path))
    services = cfg.get("services", {})
    nodes = {n: s for n, s in services.items() if s.get("build") or "listingd" in str(s.get("image", ""))}
    check(len(nodes) >= 2, f"{len(nodes)} listingd nodes, want at least 2")
    pg = [n for n, s in services.items() if re.match(r"postgres:15", str(s.get("image", "")))]
    check(len(pg) == 1, "no postgres:15 service")
    ngx = [n for n, s in services.items() if str(s.get("image", "")).startswith("nginx")]
    check(len(ngx) == 1, "no nginx service")
    if failures:
        return
    pg, ngx = pg[0], ngx[0]
    pg_svc, ngx_svc = services[pg], services[ngx]
    test = " ".join(get(pg_svc, "healthcheck", "test", default=[]))
    check("pg_isready" in test, f"{pg}: no pg_isready health check")
    secret_names = set(cfg.get("secrets", {}))
    pw_env = get(pg_svc, "environment", "POSTGRES_PASSWORD_FILE", default="")
    check(pw_env.startswith("/run/secrets/") and os.path.basename(pw_env) in secret_names,
          f"{pg}: POSTGRES_PASSWORD_FILE is not a secret")
    check("POSTGRES_PASSWORD" not in (pg_svc.get("environment") or {}), f"{pg}: a password in the environment")

    # nginx's site file: the nodes it names are the compose nodes, on their port.
    site = None
    for v in ngx_svc.get("volumes", []):
        src = v.get("source") if isinstance(v, dict) else v.split(":")[0]
        if src and src.endswith("nginx-cluster.conf"):
            site = open(os.path.join(deploy_dir, "nginx-cluster.conf")).read()
    if check(site, f"{ngx}: deploy/nginx-cluster.conf is not mounted"):
        upstream = set(re.findall(r"^\s*server\s+(\S+):(\d+)\b.*#\s*node\s*$", site, re.M))
        check({h for h, _ in upstream} == set(nodes),
              f"nginx-cluster.conf's nodes {sorted(h for h, _ in upstream)} are not the compose nodes {sorted(nodes)}")
    nginx_ip = None
    for net in (ngx_svc.get("networks") or {}).values():
        nginx_ip = (net or {}).get("ipv4_address") or nginx_ip
    check(nginx_ip, f"{ngx}: no fixed address for the nodes' --trusted-proxy")
    check(set((get(ngx_svc, "depends_on", default={}) or {})) >= set(nodes), f"{ngx}: does not wait for every node")

    probes, env_all = {}, {}
    for name, s in nodes.items():
        env = {k: str(v) for k, v in (s.get("environment") or {}).items()}
        env_all.update({k: v for k, v in env.items() if k.startswith("LISTINGD_")})
        db = env.get("LISTINGD_DB", "")
        check(re.match(r"postgres(ql)?://[^:/@]+@" + re.escape(pg) + r"[:/]", db),
              f"{name}: LISTINGD_DB={db!r} is not a password-less postgres:// URL of {pg}")
        pw = env.get("LISTINGD_DB_PASSWORD_FILE", "")
        check(pw.startswith("/run/secrets/") and os.path.basename(pw) in secret_names and
              os.path.basename(pw) in [x.get("source") if isinstance(x, dict) else x for x in s.get("secrets", [])],
              f"{name}: the password is not a secret file (LISTINGD_DB_PASSWORD_FILE={pw!r})")
        check(get(s, "depends_on", pg, "condition") == "service_healthy", f"{name}: does not wait for {pg} to be healthy")
        hc = get(s, "healthcheck", "test", default=[])
        url = next((t for t in hc if t.startswith("http")), "")
        m = re.match(r"http://127\.0\.0\.1:(\d+)(/\S*)", url)
        if check(m, f"{name}: no HTTP health check ({hc})"):
            check(m.group(2) == "/readyz", f"{name}: health check asks for {m.group(2)}, not /readyz")
            check(m.group(1) == env.get("LISTINGD_PORT"), f"{name}: health check on port {m.group(1)}, "
                                                           f"listingd on {env.get('LISTINGD_PORT')}")
            probes[m.group(2)] = f"{name} healthcheck"
        stop = int(env.get("LISTINGD_SHUTDOWN_TIMEOUT", 30))
        grace = probe_seconds(s.get("stop_grace_period", "10s"))
        check(grace and grace > stop, f"{name}: stop_grace_period {s.get('stop_grace_period', '10s')} "
                                      f"<= LISTINGD_SHUTDOWN_TIMEOUT {stop}")
        check_trusted_proxy(env.get("LISTINGD_TRUSTED_PROXY"), nginx_ip, name)
        if site:
            ports = {p for h, p in re.findall(r"^\s*server\s+(\S+):(\d+)\b.*#\s*node\s*$", site, re.M) if h == name}
            check(ports == {env.get("LISTINGD_PORT")}, f"nginx-cluster.conf sends {name} to port {ports}, "
                                                         f"it listens on {env.get('LISTINGD_PORT')}")
    # The image's own health check too.
    m = re.search(r"HEALTHCHECK.*?(/[a-z]+)\"", open(os.path.join(deploy_dir, "Dockerfile")).read(), re.S)
    if check(m, "deploy/Dockerfile: no HEALTHCHECK path"):
        probes.setdefault(m.group(1), "deploy/Dockerfile HEALTHCHECK")
    check_binary(binary, env_all, probes)


def main():
    if sys.argv[1:2] == ["k8s"] and len(sys.argv) == 4:
        check_k8s(sys.argv[2], sys.argv[3])
    elif sys.argv[1:2] == ["compose"] and len(sys.argv) == 5:
        check_compose(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
    for f in failures:
        print("FAIL:", f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
