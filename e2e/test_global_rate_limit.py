"""Two gateway processes sharing one real redis-server enforce one combined request limit:
requests are spread over both replicas concurrently and exactly the configured number get
through (the Lua script decides atomically, so the overshoot bound is zero). With Redis gone,
the FailOpen policy lets traffic through and counts the degraded decisions."""

import concurrent.futures
import unittest
import urllib.error
import urllib.request

from harness import PROVIDER_MOCK, Processes, free_port, start_gateway, wait_port

LIMIT = 30
REQUESTS = 100


def config(gateway_port, upstream_port, redis_port):
    return f"""apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gw}}
spec:
  gatewayClassName: agentgateway
  listeners: [{{name: http, port: {gateway_port}, protocol: HTTP}}]
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayBackend
metadata: {{name: app}}
spec:
  static: {{host: 127.0.0.1, port: {upstream_port}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: app}}
spec:
  parentRefs: [{{name: gw}}]
  rules:
  - backendRefs: [{{group: agentgateway.dev, kind: AgentgatewayBackend, name: app}}]
---
apiVersion: agentgateway.dev/v1alpha1
kind: AgentgatewayPolicy
metadata: {{name: shared-limit}}
spec:
  targetRefs: [{{group: gateway.networking.k8s.io, kind: Gateway, name: gw}}]
  traffic:
    rateLimit:
      global:
        redis: {{address: "127.0.0.1:{redis_port}", failureMode: FailOpen}}
        limits: [{{requests: {LIMIT}, unit: Hours}}]
"""


def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers)


class GlobalRateLimitTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.procs = Processes()
        cls.redis_port = free_port()
        cls.redis = cls.procs.start(
            ["redis-server", "--port", str(cls.redis_port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            "redis.log",
        )
        wait_port(cls.redis_port)
        upstream_port = free_port()
        cls.procs.start([PROVIDER_MOCK, "openai", str(upstream_port)], "upstream.log")
        wait_port(upstream_port)
        cls.gateways = []
        for name in ("a", "b"):
            port = free_port()
            _admin, metrics = start_gateway(
                cls.procs, config(port, upstream_port, cls.redis_port), name=f"gateway-{name}"
            )
            wait_port(port)
            cls.gateways.append((port, metrics))

    @classmethod
    def tearDownClass(cls):
        cls.procs.stop()

    def test_1_two_replicas_admit_exactly_the_shared_limit(self):
        urls = [f"http://127.0.0.1:{self.gateways[i % 2][0]}/v1/models" for i in range(REQUESTS)]
        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(fetch, urls))
        statuses = [status for status, _ in results]
        admitted = statuses.count(200)
        limited = statuses.count(429)
        self.assertEqual(admitted + limited, REQUESTS, statuses)
        # Overshoot bound: 0. The measured overshoot is admitted - LIMIT.
        self.assertEqual(admitted, LIMIT, f"admitted {admitted} of {REQUESTS} with a shared limit of {LIMIT}")
        by_replica = [
            sum(1 for i, s in enumerate(statuses) if s == 200 and i % 2 == r) for r in (0, 1)
        ]
        self.assertTrue(all(n > 0 for n in by_replica), f"both replicas admitted some: {by_replica}")
        refused = next(headers for status, headers in results if status == 429)
        self.assertIn("retry-after", refused)
        self.assertEqual(refused["x-ratelimit-limit"], str(LIMIT))

    def test_2_without_redis_fail_open_lets_traffic_through_and_counts_it(self):
        self.redis.terminate()
        self.redis.wait(timeout=10)
        port, metrics = self.gateways[0]
        for _ in range(3):
            status, _ = fetch(f"http://127.0.0.1:{port}/v1/models")
            self.assertEqual(status, 200)
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics") as r:
            text = r.read().decode()
        degraded = [l for l in text.splitlines() if l.startswith("agentgateway_ratelimit_degraded_total ")]
        self.assertTrue(degraded and int(degraded[0].split()[1]) >= 3, degraded)


if __name__ == "__main__":
    unittest.main()
