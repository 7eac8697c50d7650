#!/usr/bin/env python3
"""Checks that a compose file deploys safely: images pinned, only the api (and MinIO's S3 port,
for presigned links) published and on 127.0.0.1 by default, no password written in the file,
the api behind a login, a stop grace longer than the services' own drain, a healthcheck on each
crowd service, workers that scale, and a Dockerfile whose dependency layer knows every
workspace member. Where `docker compose` is installed, it must accept the files too (`config`,
which needs no Docker engine). Exits 1 and says what is wrong otherwise.

    python3 scripts/check_compose.py docker-compose.yml [compose.admin.yml]
"""

import os
import re
import subprocess
import sys

import yaml

PINNED = re.compile(r":(RELEASE\.[0-9TZ-]+|\d+\.\d+[\w.-]*)(@sha256:[0-9a-f]+)?$")
SECRET_KEY = re.compile(r"PASS|SECRET|TOKEN", re.I)
REQUIRED_VAR = re.compile(r"^\$\{\w+:\?[^}]*\}$")
URL_PASSWORD = re.compile(r"://[^/@:]+:([^@/]+)@")
VAR_DEFAULT = re.compile(r"\$\{\w+:-([^}]*)\}")
CROWD_SERVICES = ("api", "dispatcher", "worker")
MIN_STOP_GRACE_SECS = 30
# Container ports published besides the api's, on 127.0.0.1 only. MinIO's S3 port: presigned
# URLs are signed for CROWD_S3_PUBLIC_URL (http://127.0.0.1:9000), so the links to stored
# files the api hands out open in this machine's browser; minio:9000 resolves only inside the
# compose network.
ALSO_PUBLISHED = {"minio": {"9000"}}
REQUIRED_VARS = re.compile(r"\$\{(\w+):\?")


def published(port):
    """The host address a published port listens on ('' for all), with ${VAR:-default} read
    as its default."""
    text = VAR_DEFAULT.sub(lambda m: m.group(1), str(port))
    parts = text.split(":")
    return parts[0] if len(parts) == 3 else ""


def seconds(duration):
    match = re.fullmatch(r"(\d+)s", str(duration))
    return int(match.group(1)) if match else 0


def container_port(port):
    return str(port).rsplit(":", 1)[-1].split("/")[0]


def check_main(compose, problems):
    services = compose.get("services", {})
    for name, service in services.items():
        image = service.get("image", "")
        if "build" not in service and not PINNED.search(image):
            problems.append(f"{name}: image {image!r} is not pinned to a release")
        ports = service.get("ports", [])
        allowed = ALSO_PUBLISHED.get(name, set())
        others = [p for p in ports if container_port(p) not in allowed]
        if name != "api" and others:
            problems.append(f"{name}: publishes {others}; only the api (and MinIO's S3 port) "
                            "may be published")
        for port in ports:
            if published(port) != "127.0.0.1":
                problems.append(f"{name}: {port!r} is not published on 127.0.0.1 by default")
        if service.get("network_mode") == "host":
            problems.append(f"{name}: network_mode host publishes every port")
        env = service.get("environment", {})
        if isinstance(env, list):
            env = dict(item.split("=", 1) for item in env)
        for key, value in env.items():
            value = str(value)
            if SECRET_KEY.search(key) and not REQUIRED_VAR.match(value):
                problems.append(f"{name}: {key} is written in the file, not taken from .env")
            url_password = URL_PASSWORD.search(value)
            if url_password and not REQUIRED_VAR.match(url_password.group(1)):
                problems.append(f"{name}: {key} holds a password written in the file")
    api_env = services.get("api", {}).get("environment", {})
    for key in ("CROWD_LOGIN", "CROWD_PASSWORD"):
        if key not in api_env:
            problems.append(f"api: no {key}: the api must have a login")
    for name in CROWD_SERVICES:
        grace = seconds(services.get(name, {}).get("stop_grace_period", "10s"))
        if grace < MIN_STOP_GRACE_SECS:
            problems.append(f"{name}: stop_grace_period {grace}s is shorter than its drain")
        test = (services.get(name, {}).get("healthcheck") or {}).get("test")
        if not test or test == ["NONE"]:
            problems.append(f"{name}: no healthcheck")
    # --scale worker=N: a fixed name or a published port would clash between the copies.
    worker = services.get("worker", {})
    for key in ("container_name", "ports"):
        if key in worker:
            problems.append(f"worker: {key} set; --scale worker=N needs none")
    check_public_url(services, problems)


def check_public_url(services, problems):
    """The host presigned links name is MinIO's port as published on this machine."""
    here = {f"http://127.0.0.1:{str(p).split(':')[1]}"
            for p in services.get("minio", {}).get("ports", [])
            if published(p) == "127.0.0.1"}
    for name in CROWD_SERVICES:
        env = services.get(name, {}).get("environment", {})
        url = env.get("CROWD_S3_PUBLIC_URL") if isinstance(env, dict) else None
        if url is not None and url.rstrip("/") not in here:
            problems.append(f"{name}: CROWD_S3_PUBLIC_URL {url} is not MinIO as published on "
                            "this machine")


def check_override(compose, problems):
    for name, service in compose.get("services", {}).items():
        for port in service.get("ports", []):
            if published(port) != "127.0.0.1":
                problems.append(f"{name}: {port!r} is not published on 127.0.0.1")


def workspace_members(cargo_toml):
    """The members of the workspace in `cargo_toml` (read as text: no TOML library needed)."""
    with open(cargo_toml) as f:
        text = f.read()
    match = re.search(r"^members\s*=\s*\[([^\]]*)\]", text, re.M)
    return re.findall(r'"([^"]+)"', match.group(1)) if match else []


def check_dockerfile(compose, compose_dir, problems):
    """The Dockerfile builds dependencies from the manifests alone, with stub sources: it must
    copy every workspace member's Cargo.toml and stub its src/lib.rs, or that step fails."""
    contexts = {s["build"] if isinstance(s["build"], str) else s["build"].get("context", ".")
                for s in compose.get("services", {}).values() if "build" in s}
    for context in sorted(contexts):
        root = os.path.join(compose_dir, context)
        dockerfile = os.path.join(root, "Dockerfile")
        if not os.path.exists(os.path.join(root, "Cargo.toml")) or not os.path.exists(dockerfile):
            continue
        with open(dockerfile) as f:
            text = f.read()
        stubbed = re.search(r"^ARG MEMBERS=\"([^\"]*)\"", text, re.M)
        stubbed = set(stubbed.group(1).split()) if stubbed else set()
        for member in workspace_members(os.path.join(root, "Cargo.toml")):
            if not re.search(rf"^COPY {re.escape(member)}/Cargo\.toml ", text, re.M):
                problems.append(f"Dockerfile: does not copy {member}/Cargo.toml before "
                                "building the dependencies")
            if member not in stubbed:
                problems.append(f"Dockerfile: MEMBERS does not name {member}, so it gets no "
                                "stub source")


def check_with_docker_compose(paths, problems):
    """`docker compose config -q`, with a dummy value for every variable the files require,
    where the compose plugin is installed; skipped with a note otherwise."""
    try:
        version = subprocess.run(["docker", "compose", "version"], capture_output=True)
    except OSError:
        version = None
    if version is None or version.returncode != 0:
        print("check_compose: no `docker compose` here: the files were not parsed by compose",
              file=sys.stderr)
        return
    env = dict(os.environ)
    for path in paths:
        with open(path) as f:
            for var in REQUIRED_VARS.findall(f.read()):
                if not env.get(var):
                    env[var] = "dummy-value-for-the-check"
    command = ["docker", "compose"]
    for path in paths:
        command += ["-f", path]
    run = subprocess.run(command + ["config", "-q"], capture_output=True, text=True, env=env)
    if run.returncode != 0:
        problems.append(f"docker compose config: {run.stderr.strip() or run.stdout.strip()}")


def main(paths):
    problems = []
    with open(paths[0]) as f:
        compose = yaml.safe_load(f)
    check_main(compose, problems)
    check_dockerfile(compose, os.path.dirname(os.path.abspath(paths[0])), problems)
    for path in paths[1:]:
        with open(path) as f:
            check_override(yaml.safe_load(f), problems)
    check_with_docker_compose(paths, problems)
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
