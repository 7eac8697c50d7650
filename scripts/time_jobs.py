"""Times word_count jobs against a running api, from POST to `succeeded`.

    python3 scripts/time_jobs.py http://127.0.0.1:9173

Posts 30 one-input jobs and 5 thousand-input jobs (after one warm-up) and prints the median
of what the client saw (polling every 2 ms) and of the job's own `time_taken`.
"""
import json, time, urllib.request, statistics, sys
API = sys.argv[1]
def post(job):
    data = json.dumps(job).encode()
    req = urllib.request.Request(API + "/jobs", data=data, headers={"content-type": "application/json"})
    return json.load(urllib.request.urlopen(req))
def get(i):
    return json.load(urllib.request.urlopen(f"{API}/jobs/{i}"))
def run(n):
    t0 = time.perf_counter()
    j = post({"action": "word_count", "inputs": [f"word number {i}" for i in range(n)]})
    while True:
        v = get(j["id"])
        if v["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.002)
    assert v["status"] == "succeeded" and v["outputs"] == [3 * n], v
    return time.perf_counter() - t0, v["time_taken"]
run(1)
for n, reps in ((1, 30), (1000, 5)):
    r = [run(n) for _ in range(reps)]
    c = sorted(x[0] for x in r); s = sorted(x[1] for x in r)
    print(f"word_count {n} inputs x{reps}: client median {statistics.median(c)*1e3:.1f} ms (min {c[0]*1e3:.1f}, max {c[-1]*1e3:.1f}); server time_taken median {statistics.median(s)*1e3:.1f} ms")
