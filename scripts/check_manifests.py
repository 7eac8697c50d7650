#!/usr/bin/env python3
"""Checks the Kubernetes manifests of a directory (deploy/kubernetes): every resource valid
against the Kubernetes API's JSON schemas (kubernetes-validate, offline, strict: an unknown field
is an error), KEDA's resources (which have no schema there) by our own structural checks, and
the project's rules: images pinned, every container with resources and a locked-down
securityContext, every Deployment with liveness and readiness probes on ports it declares, a
grace period longer than the drain, references (envFrom, volumes, Services, KEDA) to things
defined here, and kustomization.yaml listing every manifest but the example Secret. Exits 1 and
says what is wrong otherwise.

    python3 scripts/check_manifests.py deploy/kubernetes [--kubernetes-version 1.30]

Needs PyYAML and kubernetes-validate (pip install kubernetes-validate), which ships the schemas:
nothing is downloaded.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys

import yaml

try:
    import kubernetes_validate
except ImportError:  # pragma: no cover - said plainly instead of a traceback
    print("check_manifests: needs kubernetes-validate: pip install kubernetes-validate")
    sys.exit(1)

# A version kubernetes-validate bundles; the manifests use nothing newer (CronJob timeZone is
# 1.27, PodDisruptionBudget policy/v1 1.21).
KUBERNETES_VERSION = "1.30"
KUSTOMIZATION = "kustomization.yaml"
# Not applied by kustomize: the real Secret is created by hand (see the directory's README).
EXAMPLE_SECRET = "secret.example.yaml"
KEDA_API = "keda.sh/v1alpha1"
KEDA_KINDS = ("ScaledObject", "TriggerAuthentication")
# What crowd's processes allow themselves to drain on SIGTERM unless the ConfigMap says
# otherwise (shutdown_grace_secs).
DEFAULT_SHUTDOWN_GRACE_SECS = 25
# The queue of an action: <queue_prefix>.work.<action>.
WORK_QUEUE = re.compile(r"^(?P<prefix>[\w.-]+)\.work\.(?P<action>[\w-]+)$")
# The fields KEDA 2.x defines; anything else is a typo KEDA would ignore silently.
SCALED_OBJECT_FIELDS = {
    "scaleTargetRef", "pollingInterval", "cooldownPeriod", "initialCooldownPeriod",
    "idleReplicaCount", "minReplicaCount", "maxReplicaCount", "fallback", "advanced", "triggers",
}
TRIGGER_FIELDS = {"type", "name", "metadata", "authenticationRef", "metricType", "useCachedMetrics"}
RABBITMQ_METADATA = {
    "protocol", "mode", "value", "activationValue", "queueName", "vhostName", "useRegex",
    "excludeUnacknowledged", "pageSize", "operation", "timeout", "unsafeSsl",
}
TRIGGER_AUTH_FIELDS = {
    "secretTargetRef", "env", "hashiCorpVault", "azureKeyVault", "podIdentity",
    "configMapTargetRef", "awsSecretManager", "gcpSecretManager",
}
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")


class Resource:
    def __init__(self, path, doc):
        self.path = path
        self.doc = doc
        self.kind = doc.get("kind", "")
        self.api = doc.get("apiVersion", "")
        self.name = (doc.get("metadata") or {}).get("name", "")

    def __str__(self):
        return f"{os.path.basename(self.path)}: {self.kind}/{self.name}"


def pod_spec(resource):
    """The pod spec of a workload, or None."""
    spec = resource.doc.get("spec") or {}
    if resource.kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    if resource.kind in WORKLOAD_KINDS:
        return ((spec.get("template") or {}).get("spec")) or {}
    return None


def pod_labels(resource):
    spec = resource.doc.get("spec") or {}
    if resource.kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    return (((spec.get("template") or {}).get("metadata")) or {}).get("labels") or {}


def containers(spec):
    return (spec.get("initContainers") or []) + (spec.get("containers") or [])


def load(directory, problems):
    """Every resource in the directory's YAML files, the kustomization apart."""
    resources, kustomization, files = [], None, []
    for entry in sorted(os.listdir(directory)):
        if not entry.endswith((".yaml", ".yml")):
            continue
        path = os.path.join(directory, entry)
        files.append(entry)
        try:
            with open(path) as f:
                docs = [d for d in yaml.safe_load_all(f) if d is not None]
        except yaml.YAMLError as e:
            problems.append(f"{entry}: not YAML: {e}")
            continue
        if entry == KUSTOMIZATION:
            kustomization = docs[0] if docs else {}
            continue
        if not docs:
            problems.append(f"{entry}: no resource in it")
        for doc in docs:
            if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
                problems.append(f"{entry}: a document with no kind or apiVersion")
                continue
            resources.append(Resource(path, doc))
    return resources, kustomization, files


def check_schemas(resources, version, problems):
    """Validates every resource with a schema in kubernetes-validate; KEDA's have none."""
    for r in resources:
        try:
            kubernetes_validate.validate(r.doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            where = ".".join(str(p) for p in e.path) or "(top)"
            problems.append(f"{r}: invalid for Kubernetes {e.version}: {where}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError:
            if not (r.api == KEDA_API and r.kind in KEDA_KINDS):
                problems.append(f"{r}: no schema for {r.api} {r.kind}, and no check of ours")
        except kubernetes_validate.utils.VersionNotSupportedError:
            problems.append(f"kubernetes-validate has no schemas for Kubernetes {version}")
            return


def check_kustomization(directory, kustomization, files, resources, problems):
    if kustomization is None:
        problems.append(f"no {KUSTOMIZATION}")
        return
    listed = kustomization.get("resources") or []
    manifests = {f for f in files if f not in (KUSTOMIZATION, EXAMPLE_SECRET)}
    for missing in sorted(manifests - set(listed)):
        problems.append(f"{KUSTOMIZATION}: does not list {missing}")
    for entry in listed:
        if entry == EXAMPLE_SECRET:
            problems.append(f"{KUSTOMIZATION}: lists {EXAMPLE_SECRET}: its placeholders would "
                            "overwrite the real Secret")
        elif not os.path.exists(os.path.join(directory, entry)):
            problems.append(f"{KUSTOMIZATION}: lists {entry}, which does not exist")
    for image in kustomization.get("images") or []:
        tag = str(image.get("newTag", ""))
        if not image.get("digest") and (not tag or tag == "latest"):
            problems.append(f"{KUSTOMIZATION}: image {image.get('name')} has no pinned newTag")
    example = [r for r in resources if os.path.basename(r.path) == EXAMPLE_SECRET]
    if example and any(r.kind != "Secret" for r in example):
        problems.append(f"{EXAMPLE_SECRET}: holds something other than a Secret")


def pinned(image):
    if "@sha256:" in image:
        return True
    name = image.rsplit("/", 1)[-1]
    return ":" in name and name.split(":", 1)[1] not in ("", "latest")


def check_workloads(resources, problems):
    configmaps = {r.name: r for r in resources if r.kind == "ConfigMap"}
    secrets = {r.name: r for r in resources if r.kind == "Secret"}
    grace_secs = DEFAULT_SHUTDOWN_GRACE_SECS
    for cm in configmaps.values():
        value = (cm.doc.get("data") or {}).get("CROWD_SHUTDOWN_GRACE_SECS")
        if value is not None:
            grace_secs = int(value)
    for r in resources:
        spec = pod_spec(r)
        if spec is None:
            continue
        if r.kind == "Deployment":
            selector = ((r.doc.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
            labels = pod_labels(r)
            if any(labels.get(k) != v for k, v in selector.items()):
                problems.append(f"{r}: selector {selector} does not match its pods' labels")
        if spec.get("enableServiceLinks") is not False:
            problems.append(f"{r}: enableServiceLinks is not false: Kubernetes would add "
                            "<SERVICE>_* variables, which crowd reads as CROWD_* settings")
        pod_security = spec.get("securityContext") or {}
        volumes = {v.get("name") for v in spec.get("volumes") or []}
        for c in containers(spec):
            where = f"{r}: container {c.get('name')}"
            image = c.get("image", "")
            if not pinned(image):
                problems.append(f"{where}: image {image!r} is not pinned to a tag or digest")
            resources_ = c.get("resources") or {}
            for part in ("requests", "limits"):
                for quantity in ("cpu", "memory"):
                    if quantity not in (resources_.get(part) or {}):
                        problems.append(f"{where}: no resources.{part}.{quantity}")
            check_security(where, pod_security, c.get("securityContext") or {}, problems)
            for mount in c.get("volumeMounts") or []:
                if mount.get("name") not in volumes:
                    problems.append(f"{where}: mounts {mount.get('name')}, no such volume")
            check_env_refs(where, c, configmaps, secrets, problems)
            if r.kind == "Deployment":
                check_probes(where, c, problems)
                check_grace(where, spec, c, grace_secs, problems)


def check_security(where, pod, container, problems):
    def setting(key):
        return container.get(key, pod.get(key))

    if setting("runAsNonRoot") is not True:
        problems.append(f"{where}: runAsNonRoot is not true")
    uid = setting("runAsUser")
    if uid is None or uid == 0:
        problems.append(f"{where}: runAsUser is not set to a non-root uid")
    if container.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{where}: allowPrivilegeEscalation is not false")
    if container.get("readOnlyRootFilesystem") is not True:
        problems.append(f"{where}: readOnlyRootFilesystem is not true")
    if "ALL" not in ((container.get("capabilities") or {}).get("drop") or []):
        problems.append(f"{where}: capabilities do not drop ALL")


def check_env_refs(where, c, configmaps, secrets, problems):
    for source in c.get("envFrom") or []:
        if "configMapRef" in source:
            name = source["configMapRef"].get("name")
            if name not in configmaps:
                problems.append(f"{where}: envFrom names ConfigMap {name}, not defined here")
        if "secretRef" in source:
            name = source["secretRef"].get("name")
            if name not in secrets:
                problems.append(f"{where}: envFrom names Secret {name}, not defined here "
                                f"(not even in {EXAMPLE_SECRET})")
    for var in c.get("env") or []:
        ref = var.get("valueFrom") or {}
        for kind, defined in (("secretKeyRef", secrets), ("configMapKeyRef", configmaps)):
            if kind in ref:
                name, key = ref[kind].get("name"), ref[kind].get("key")
                if name not in defined or key not in keys_of(defined[name]):
                    problems.append(f"{where}: {var.get('name')} reads {name}/{key}, not defined")


def keys_of(resource):
    return set((resource.doc.get("data") or {})) | set((resource.doc.get("stringData") or {}))


def check_probes(where, c, problems):
    names = {p.get("name") for p in c.get("ports") or [] if p.get("name")}
    numbers = {p.get("containerPort") for p in c.get("ports") or []}
    for probe in ("livenessProbe", "readinessProbe"):
        if probe not in c:
            problems.append(f"{where}: no {probe}")
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        handler = c.get(probe) or {}
        for kind in ("httpGet", "tcpSocket", "grpc"):
            if kind not in handler:
                continue
            port = handler[kind].get("port")
            if port not in (numbers if isinstance(port, int) else names):
                problems.append(f"{where}: {probe} asks port {port!r}, which the container "
                                "does not declare")


def prestop_secs(c):
    """How long the preStop hook sleeps, for the hook `["sleep", N]`; 0 without a hook."""
    hook = ((c.get("lifecycle") or {}).get("preStop") or {})
    command = (hook.get("exec") or {}).get("command") or []
    if len(command) == 2 and command[0] in ("sleep", "/bin/sleep"):
        return float(command[1])
    return 0.0 if not hook else None


def check_grace(where, spec, c, grace_secs, problems):
    period = spec.get("terminationGracePeriodSeconds", 30)
    pause = prestop_secs(c)
    if pause is None:
        problems.append(f"{where}: preStop is not a plain [\"sleep\", N]: cannot tell its length")
        return
    if period <= grace_secs + pause:
        problems.append(f"{where}: terminationGracePeriodSeconds {period} is not longer than "
                        f"the preStop pause ({pause:g} s) plus the drain ({grace_secs} s)")


def check_services(resources, problems):
    workloads = [r for r in resources if r.kind == "Deployment"]
    for r in resources:
        if r.kind not in ("Service", "PodDisruptionBudget"):
            continue
        spec = r.doc.get("spec") or {}
        selector = spec.get("selector") or {}
        if r.kind == "PodDisruptionBudget":
            selector = selector.get("matchLabels") or {}
        matched = [w for w in workloads
                   if selector and all(pod_labels(w).get(k) == v for k, v in selector.items())]
        if not matched:
            problems.append(f"{r}: selector {selector} matches no Deployment here")
            continue
        if r.kind == "Service":
            ports = [p for w in matched for c in containers(pod_spec(w))
                     for p in c.get("ports") or []]
            for port in spec.get("ports") or []:
                target = port.get("targetPort", port.get("port"))
                key = "containerPort" if isinstance(target, int) else "name"
                if not any(p.get(key) == target for p in ports):
                    problems.append(f"{r}: targetPort {target!r} is no port of its pods")


def check_keda(resources, problems):
    deployments = {r.name: r for r in resources if r.kind == "Deployment"}
    secrets = {r.name: r for r in resources if r.kind == "Secret"}
    auths = {r.name: r for r in resources if r.kind == "TriggerAuthentication"}
    targets = {}
    for r in resources:
        if r.api.startswith("keda.sh/") and r.api != KEDA_API:
            problems.append(f"{r}: apiVersion {r.api}, not {KEDA_API}")
    for r in auths.values():
        spec = r.doc.get("spec") or {}
        for field in sorted(set(spec) - TRIGGER_AUTH_FIELDS):
            problems.append(f"{r}: unknown field spec.{field}")
        refs = spec.get("secretTargetRef") or []
        if not refs:
            problems.append(f"{r}: no secretTargetRef")
        for ref in refs:
            name, key = ref.get("name"), ref.get("key")
            if not ref.get("parameter"):
                problems.append(f"{r}: a secretTargetRef with no parameter")
            if name not in secrets:
                problems.append(f"{r}: reads Secret {name}, not defined here")
            elif key not in keys_of(secrets[name]):
                problems.append(f"{r}: reads key {key} of Secret {name}, which has no such key")
    for r in resources:
        if r.kind != "ScaledObject":
            continue
        spec = r.doc.get("spec") or {}
        for field in sorted(set(spec) - SCALED_OBJECT_FIELDS):
            problems.append(f"{r}: unknown field spec.{field}")
        target = spec.get("scaleTargetRef") or {}
        name = target.get("name")
        if target.get("kind", "Deployment") != "Deployment" or name not in deployments:
            problems.append(f"{r}: scaleTargetRef names no Deployment defined here ({name})")
        elif name in targets:
            problems.append(f"{r}: Deployment {name} is already scaled by {targets[name]}: "
                            "two HPAs would fight over its replicas")
        else:
            targets[name] = r.name
            if "replicas" in (deployments[name].doc.get("spec") or {}):
                problems.append(f"{deployments[name]}: sets replicas, which KEDA owns "
                                f"(ScaledObject {r.name}): every apply would undo its choice")
        if spec.get("minReplicaCount") != 0:
            problems.append(f"{r}: minReplicaCount is {spec.get('minReplicaCount')}, not 0")
        for field in ("maxReplicaCount", "pollingInterval", "cooldownPeriod"):
            if field in spec and not (isinstance(spec[field], int) and spec[field] > 0):
                problems.append(f"{r}: {field} is not a positive integer")
        triggers = spec.get("triggers") or []
        if not triggers:
            problems.append(f"{r}: no triggers")
        actions = check_triggers(r, triggers, auths, problems)
        if name in deployments:
            check_actions_match(r, deployments[name], actions, problems)


def check_triggers(r, triggers, auths, problems):
    """The actions the triggers watch the queues of."""
    actions, queues = set(), set()
    for i, trigger in enumerate(triggers):
        where = f"{r}: trigger {i}"
        for field in sorted(set(trigger) - TRIGGER_FIELDS):
            problems.append(f"{where}: unknown field {field}")
        if trigger.get("type") != "rabbitmq":
            problems.append(f"{where}: type {trigger.get('type')!r}, not rabbitmq")
            continue
        meta = trigger.get("metadata") or {}
        for field in sorted(set(meta) - RABBITMQ_METADATA):
            problems.append(f"{where}: unknown metadata {field}"
                            + (": the broker's address belongs in the TriggerAuthentication"
                               if field in ("host", "hostFromEnv") else ""))
        if meta.get("mode") != "QueueLength":
            problems.append(f"{where}: mode {meta.get('mode')!r}, not QueueLength")
        value = meta.get("value")
        if not (isinstance(value, str) and re.fullmatch(r"[0-9]+(\.[0-9]+)?", value)
                and float(value) > 0):
            problems.append(f"{where}: value {value!r} is not a positive number in a string")
        queue = meta.get("queueName")
        match = WORK_QUEUE.match(queue or "")
        if not match:
            problems.append(f"{where}: queueName {queue!r} is not <prefix>.work.<action>")
        elif queue in queues:
            problems.append(f"{where}: queue {queue} has two triggers")
        else:
            queues.add(queue)
            actions.add(match.group("action"))
        auth = (trigger.get("authenticationRef") or {}).get("name")
        if auth not in auths:
            problems.append(f"{where}: authenticationRef names no TriggerAuthentication "
                            f"defined here ({auth})")
    return actions


def check_actions_match(r, deployment, actions, problems):
    """The worker consumes exactly the actions whose queues scale it."""
    for c in containers(pod_spec(deployment)):
        env = {v.get("name"): v.get("value") for v in c.get("env") or []}
        if "CROWD_ACTIONS" not in env:
            problems.append(f"{deployment}: container {c.get('name')} sets no CROWD_ACTIONS: "
                            f"it would consume queues ScaledObject {r.name} does not watch")
            continue
        consumed = {a.strip() for a in str(env["CROWD_ACTIONS"]).split(",") if a.strip()}
        for action in sorted(consumed - actions):
            problems.append(f"{r}: no trigger for the queue of {action}, which "
                            f"{deployment.name} consumes: its jobs would start no worker")
        for action in sorted(actions - consumed):
            problems.append(f"{r}: scales on the queue of {action}, which "
                            f"{deployment.name} does not consume")


def check_kustomize_builds(directory, problems):
    """`kubectl kustomize` (kustomize built into kubectl: no cluster needed) renders the
    directory, when kubectl is here; skipped with a note otherwise."""
    if shutil.which("kubectl") is None:
        print("check_manifests: no kubectl here: kustomization.yaml not rendered",
              file=sys.stderr)
        return
    run = subprocess.run(["kubectl", "kustomize", directory], capture_output=True, text=True)
    if run.returncode != 0:
        problems.append(f"{KUSTOMIZATION}: kubectl kustomize fails: {run.stderr.strip()}")


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory")
    parser.add_argument("--kubernetes-version", default=KUBERNETES_VERSION)
    args = parser.parse_args(argv)
    problems = []
    resources, kustomization, files = load(args.directory, problems)
    check_schemas(resources, args.kubernetes_version, problems)
    check_kustomization(args.directory, kustomization, files, resources, problems)
    check_kustomize_builds(args.directory, problems)
    check_workloads(resources, problems)
    check_services(resources, problems)
    check_keda(resources, problems)
    for problem in problems:
        print(problem)
    if not problems:
        print(f"{args.directory}: {len(resources)} resources in {len(files)} files: valid for "
              f"Kubernetes {args.kubernetes_version}, project checks passed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
