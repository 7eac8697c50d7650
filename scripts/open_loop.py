"""Many clients posting one-unit noop jobs without waiting for them, against a running api.

    python3 scripts/open_loop.py http://127.0.0.1:9173 [CLIENTS=32] [SECONDS=10]

CLIENTS threads post one-unit `noop` jobs back to back for SECONDS; then every job is read
until it has ended. Prints the rate the api accepted them at, the rate the system finished
them at (all of them, from the first post to the last end seen), and the jobs' own
`time_taken` percentiles, which count the time they waited in a backlog.

`crowd bench --concurrent` measures a closed loop instead (each client waits for its job,
polling it): on a small machine its polls take a good part of the CPU being measured.
"""
import http.client
import json
import sys
import threading
import time
import urllib.parse

url = urllib.parse.urlparse(sys.argv[1])
clients = int(sys.argv[2]) if len(sys.argv) > 2 else 32
seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
ids, lock = [], threading.Lock()
start = time.time()
stop = start + seconds


def poster():
    conn = http.client.HTTPConnection(url.hostname, url.port)
    body = json.dumps({"action": "noop", "inputs": [1]})
    while time.time() < stop:
        conn.request("POST", "/jobs", body, {"Content-Type": "application/json"})
        reply = conn.getresponse()
        data = reply.read()
        if reply.status not in (200, 201):
            sys.exit(f"POST /jobs answered {reply.status}: {data[:200]!r}")
        with lock:
            ids.append(json.loads(data)["id"])


threads = [threading.Thread(target=poster) for _ in range(clients)]
for t in threads:
    t.start()
for t in threads:
    t.join()
posted_for = time.time() - start
conn = http.client.HTTPConnection(url.hostname, url.port)
taken = []
for job_id in ids:
    while True:
        conn.request("GET", f"/jobs/{job_id}")
        job = json.loads(conn.getresponse().read())
        if job["status"] == "succeeded":
            taken.append(job["time_taken"])
            break
        if job["status"] == "failed":
            sys.exit(f"job {job_id} failed: {job['outputs']}")
        time.sleep(0.01)
ended_after = time.time() - start
taken.sort()


def pct(q):
    return taken[min(len(taken) - 1, int(q * len(taken)))] * 1000


print(
    f"{len(ids)} jobs from {clients} clients in {posted_for:.1f} s: "
    f"{len(ids) / posted_for:.0f}/s accepted; all ended after {ended_after:.1f} s: "
    f"{len(ids) / ended_after:.0f}/s finished; "
    f"time_taken p50 {pct(.5):.0f} ms, p90 {pct(.9):.0f} ms, p99 {pct(.99):.0f} ms"
)
