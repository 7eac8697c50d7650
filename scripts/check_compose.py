#!/usr/bin/env python3
"""Checks that a compose file deploys safely: images pinned, only the api published and on
127.0.0.1 by default, no password written in the file, the api behind a login, and a stop grace
longer than the services' own drain. Exits 1 and says what is wrong otherwise.

    python3 scripts/check_compose.py docker-compose.yml [compose.admin.yml]
"""

import re
import sys

import yaml

PINNED = re.compile(r":(RELEASE\.[0-9TZ-]+|\d+\.\d+[\w.-]*)(@sha256:[0-9a-f]+)?$")
SECRET_KEY = re.compile(r"PASS|SECRET|TOKEN", re.I)
REQUIRED_VAR = re.compile(r"^\$\{\w+:\?[^}]*\}$")
URL_PASSWORD = re.compile(r"://[^/@:]+:([^@/]+)@")
VAR_DEFAULT = re.compile(r"\$\{\w+:-([^}]*)\}")
CROWD_SERVICES = ("api", "dispatcher", "worker")
MIN_STOP_GRACE_SECS = 30


def published(port):
    """The host address a published port listens on ('' for all), with ${VAR:-default} read
    as its default."""
    text = VAR_DEFAULT.sub(lambda m: m.group(1), str(port))
    parts = text.split(":")
    return parts[0] if len(parts) == 3 else ""


def seconds(duration):
    match = re.fullmatch(r"(\d+)s", str(duration))
    return int(match.group(1)) if match else 0


def check_main(compose, problems):
    services = compose.get("services", {})
    for name, service in services.items():
        image = service.get("image", "")
        if "build" not in service and not PINNED.search(image):
            problems.append(f"{name}: image {image!r} is not pinned to a release")
        ports = service.get("ports", [])
        if name != "api" and ports:
            problems.append(f"{name}: publishes {ports}; only the api may be published")
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


def check_override(compose, problems):
    for name, service in compose.get("services", {}).items():
        for port in service.get("ports", []):
            if published(port) != "127.0.0.1":
                problems.append(f"{name}: {port!r} is not published on 127.0.0.1")


def main(paths):
    problems = []
    with open(paths[0]) as f:
        check_main(yaml.safe_load(f), problems)
    for path in paths[1:]:
        with open(path) as f:
            check_override(yaml.safe_load(f), problems)
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
