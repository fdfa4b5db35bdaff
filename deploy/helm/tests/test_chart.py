"""The Helm chart, offline: rendered with each values file by Helm's own engine (helm-python-sdk),
linted, every manifest validated against the Kubernetes schemas (kubernetes-validate), and the
properties an operator relies on asserted. The netorch binary checks the configuration the
chart renders.

Run by scripts/test: python -m unittest deploy/helm/tests/test_chart.py
(NETORCH_BIN: the netorch binary to check the rendered configuration with).
"""

import json
import os
import pathlib
import subprocess
import tempfile
import unittest

import helm_python as helm
import kubernetes_validate
import yaml

CHART = pathlib.Path(__file__).resolve().parent.parent / "netorch"
KUBE = "1.33.0"
VALUES = {
    "default": None,
    "dev": CHART / "values-dev.yaml",
    "ha": CHART / "values-ha.yaml",
}
SECRET_NAMES = ("PASSWORD", "SECRET", "DATABASE__URL", "ACCESS_KEY", "SECRET_KEY", "TOKEN")


def load(path):
    return yaml.safe_load(path.read_text()) if path else {}


def merge(base, extra):
    out = dict(base or {})
    for k, v in (extra or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def render(values=None):
    """Every rendered object, by (kind, name)."""
    with helm.Chart.load(str(CHART)) as chart:
        files = chart.render(values=values, name="rel", namespace="ns", is_install=True)
    objects = {}
    for path, text in files.items():
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                objects[(doc["kind"], doc["metadata"]["name"])] = doc
    return objects


def of_kind(objects, kind):
    return [o for (k, _), o in objects.items() if k == kind]


def container(objects):
    (deployment,) = of_kind(objects, "Deployment")
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    return deployment, c


class EveryValuesFile(unittest.TestCase):
    def test_every_values_file_renders_lints_clean_and_validates_against_kubernetes_schemas(self):
        for name, path in VALUES.items():
            with self.subTest(values=name):
                values = load(path) or None
                report = helm.lint(str(CHART), values, strict=True, kube_version="v" + KUBE)
                self.assertEqual(report["errors"], [], report)
                self.assertFalse([m for m in report["messages"] if m["severity"] >= 2], report)
                objects = render(values)
                for (kind, obj_name), obj in objects.items():
                    if obj["apiVersion"].startswith("monitoring.coreos.com/"):
                        # A CRD: not in the Kubernetes schemas; its shape is checked below.
                        self.assertEqual(obj["spec"]["endpoints"][0]["port"], "management")
                        continue
                    kubernetes_validate.validate(obj, KUBE, strict=True)

    def test_no_secret_is_ever_inlined(self):
        for name, path in VALUES.items():
            with self.subTest(values=name):
                objects = render(load(path) or None)
                self.assertEqual(of_kind(objects, "Secret"), [], "the chart creates no Secret")
                for kind in ("Deployment", "Job", "Pod"):
                    for obj in of_kind(objects, kind):
                        spec = obj["spec"].get("template", {}).get("spec") or obj["spec"]
                        for c in spec["containers"]:
                            for env in c.get("env", []):
                                if any(s in env["name"] for s in SECRET_NAMES):
                                    self.assertNotIn("value", env, f"{env['name']} is inlined")
                                    self.assertIn("secretKeyRef", env["valueFrom"], env)
                for cm in of_kind(objects, "ConfigMap"):
                    text = json.dumps(cm["data"]).lower()
                    for word in ("password", "secret_key", "postgres://"):
                        self.assertNotIn(word, text, f"{word} in the ConfigMap")

    def test_probes_use_the_management_port_and_liveness_never_asks_readiness(self):
        for name, path in VALUES.items():
            with self.subTest(values=name):
                _, c = container(render(load(path) or None))
                ports = {p["name"]: p["containerPort"] for p in c["ports"]}
                self.assertIn("management", ports)
                self.assertNotEqual(ports["management"], ports["http"])
                for probe, want in (("startupProbe", "/livez"), ("livenessProbe", "/livez"),
                                    ("readinessProbe", "/readyz")):
                    self.assertEqual(c[probe]["httpGet"]["path"], want, probe)
                    self.assertEqual(c[probe]["httpGet"]["port"], "management", probe)

    def test_pods_run_unprivileged_on_a_read_only_root_and_leave_within_their_grace(self):
        for name, path in VALUES.items():
            with self.subTest(values=name):
                objects = render(load(path) or None)
                deployment, c = container(objects)
                pod = deployment["spec"]["template"]["spec"]
                self.assertTrue(pod["securityContext"]["runAsNonRoot"])
                self.assertFalse(pod["automountServiceAccountToken"])
                sc = c["securityContext"]
                self.assertTrue(sc["readOnlyRootFilesystem"])
                self.assertFalse(sc["allowPrivilegeEscalation"])
                self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
                mounts = {m["mountPath"] for m in c["volumeMounts"]}
                self.assertTrue({"/tmp", "/var/lib/netorch"} <= mounts, mounts)
                (cm,) = of_kind(objects, "ConfigMap")
                cfg = json.loads(cm["data"]["netorch.json"])
                grace = int(cfg["server"]["shutdown_grace"].rstrip("s"))
                self.assertLess(grace, pod["terminationGracePeriodSeconds"])

    def test_replicas_get_a_disruption_budget_a_surge_only_rollout_and_a_host_spread(self):
        expected = {"default": True, "dev": False, "ha": True}
        for name, path in VALUES.items():
            with self.subTest(values=name):
                objects = render(load(path) or None)
                pdbs = of_kind(objects, "PodDisruptionBudget")
                self.assertEqual(bool(pdbs), expected[name], pdbs)
                deployment, _ = container(objects)
                if expected[name]:
                    roll = deployment["spec"]["strategy"]["rollingUpdate"]
                    self.assertEqual(roll["maxUnavailable"], 0)
                    spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
                    self.assertEqual(spread[0]["topologyKey"], "kubernetes.io/hostname")
                else:
                    # One SQLite replica owns its data dir: replaced, never doubled.
                    self.assertEqual(deployment["spec"]["strategy"]["type"], "Recreate")

    def test_a_changed_configuration_rolls_the_pods(self):
        before, _ = container(render())
        after, _ = container(render({"config": {"log": {"level": "debug"}}}))
        key = "checksum/config"
        self.assertNotEqual(before["spec"]["template"]["metadata"]["annotations"][key],
                            after["spec"]["template"]["metadata"]["annotations"][key])

    def test_the_optional_parts_render_when_asked(self):
        objects = render(load(VALUES["ha"]))
        for kind in ("HorizontalPodAutoscaler", "ServiceMonitor", "NetworkPolicy", "Ingress", "Job"):
            self.assertTrue(of_kind(objects, kind), kind)
        (job,) = of_kind(objects, "Job")
        self.assertIn("pre-upgrade", job["metadata"]["annotations"]["helm.sh/hook"])
        (svc,) = of_kind(objects, "Service")
        names = {p["name"] for p in svc["spec"]["ports"]}
        self.assertTrue({"http", "management", "oof", "dmi", "tmf"} <= names, names)
        (ingress,) = of_kind(objects, "Ingress")
        self.assertEqual(ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-buffering"], "off")
        tests = [p for p in of_kind(objects, "Pod")
                 if p["metadata"]["annotations"].get("helm.sh/hook") == "test"]
        self.assertEqual(len(tests), 1)
        self.assertIn("healthcheck", tests[0]["spec"]["containers"][0]["args"])

    def test_impossible_combinations_are_refused_with_the_reason(self):
        cases = [
            ({"database": {"existingSecret": ""}}, "needs PostgreSQL"),
            ({"secrets": {"sealingKey": {"existingSecret": ""}}}, "one sealing key"),
            ({"packages": {"storage": "local"}}, "shared package storage"),
            ({"events": {"sink": "kafka"}}, "events.kafka.brokers"),
            ({"events": {"sink": "kafka", "kafka": {"brokers": ["k:9092"], "sasl": {"mechanism": "PLAIN"}}}},
             "events.kafka.sasl.existingSecret"),
            (merge(load(VALUES["dev"]), {"migrationJob": {"enabled": True}}), "migrationJob"),
        ]
        for values, reason in cases:
            with self.subTest(reason=reason):
                with self.assertRaises(helm.HelmError) as err:
                    render(values)
                self.assertIn(reason, str(err.exception))

    def test_netorch_accepts_the_configuration_the_chart_renders(self):
        binary = os.environ.get("NETORCH_BIN")
        if not binary:
            self.skipTest("NETORCH_BIN is not set")
        for name, path in VALUES.items():
            with self.subTest(values=name), tempfile.TemporaryDirectory() as d:
                objects = render(load(path) or None)
                (cm,) = of_kind(objects, "ConfigMap")
                _, c = container(objects)
                cfg = pathlib.Path(d, "netorch.json")
                cfg.write_text(cm["data"]["netorch.json"])
                env = {k: v for k, v in os.environ.items() if not k.startswith("NETORCH_")}
                # The pod's environment, its Secrets standing in as placeholders.
                for e in c["env"]:
                    if "value" in e:
                        env[e["name"]] = e["value"]
                    elif "secretKeyRef" in e["valueFrom"]:
                        env[e["name"]] = ("A" * 43 + "=") if e["name"].endswith("SECRET_KEY") else "x"
                    else:
                        env[e["name"]] = "netorch-0"
                env.pop("NETORCH_DATABASE__URL", None)
                env.update({"NETORCH_CONFIG": str(cfg), "NETORCH_DATA_DIR": d})
                out = subprocess.run([binary, "config", "check"], env=env, capture_output=True,
                                     text=True, timeout=60)
                self.assertEqual(out.returncode, 0, out.stderr)
                self.assertIn("configuration OK", out.stdout)


class ComposeStack(unittest.TestCase):
    def test_the_compose_stacks_netorch_settings_are_accepted_by_netorch(self):
        binary = os.environ.get("NETORCH_BIN")
        if not binary:
            self.skipTest("NETORCH_BIN is not set")
        compose = yaml.safe_load((CHART.parent.parent / "compose" / "compose.yaml").read_text())
        services = compose["services"]
        self.assertEqual({"netorch-1", "netorch-2", "postgres", "tansu"}, set(services))
        for name in ("netorch-1", "netorch-2"):
            svc = services[name]
            self.assertTrue(svc["read_only"])
            with tempfile.TemporaryDirectory() as d:
                env = {k: v for k, v in os.environ.items() if not k.startswith("NETORCH_")}
                for k, v in svc["environment"].items():
                    if v.startswith("/run/secrets/"):
                        # The secret files, as compose would mount them.
                        path = pathlib.Path(d, pathlib.Path(v).name)
                        path.write_text("postgres://u:p@db/x" if "url" in v else "A" * 43 + "=")
                        v = str(path)
                    env[k] = v
                env["NETORCH_DATA_DIR"] = d
                env["NETORCH_OSM__PACKAGE_DIR"] = d
                out = subprocess.run([binary, "config", "check"], env=env, capture_output=True,
                                     text=True, timeout=60)
                self.assertEqual(out.returncode, 0, out.stderr)
                self.assertNotIn("A" * 43, out.stdout, "the sealing key is never printed")


if __name__ == "__main__":
    unittest.main()
