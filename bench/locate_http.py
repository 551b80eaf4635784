"""GET /api/locate under load, beside a bare FastAPI endpoint in the same server setup.

Both run under uvicorn with the same workers and flags; wrk (Debian) drives 32 connections
from a second process on loopback for a fixed time, in alternating rounds; the best round of
each counts. Prints both throughputs, p50/p99 latencies and, last, one JSON line.

    .venv/bin/python -m bench.locate_http [--seconds 10] [--connections 32] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import shapely

from geo.crs import from_wgs84

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def server(target: list[str], workers: int, ready_path: str) -> Iterator[str]:
    """Run uvicorn on ``target`` with the flags shared by both sides; yield its base URL."""
    port = free_port()
    command = [str(BIN / "uvicorn"), *target, "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base + ready_path)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_until_ready(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def sample_points(count: int, seed: int = 7) -> list[tuple[str, float, float]]:
    """Points inside Beigan: half sent as WGS84, half as GCJ-02 (as WeChat sends them)."""
    from data.beigan import generate

    street = generate().street.geometry.iloc[0]
    rng = np.random.default_rng(seed)
    west, south, east, north = street.bounds
    points: list[tuple[str, float, float]] = []
    while len(points) < count:
        lon, lat = rng.uniform(west, east), rng.uniform(south, north)
        if shapely.contains_xy(street, lon, lat):
            crs = "gcj02" if len(points) % 2 else "wgs84"
            x, y = from_wgs84(lon, lat, crs)
            points.append((crs, round(x, 7), round(y, 7)))
    return points


def wrk(url: str, seconds: int, connections: int, script: Path | None = None) -> dict[str, float]:
    """Run wrk; return requests/s, p50 and p99 latency in ms and the non-2xx count."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script:
        command[1:1] = ["-s", str(script)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
            "p50_ms": _latency(output, "50%"), "p99_ms": _latency(output, "99%"),
            "errors": float(sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)",
                                                           output)))}


def _latency(output: str, percentile: str) -> float:
    value, unit = re.search(rf"{percentile}\s+([\d.]+)(us|ms|s)", output).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def lua_script(path: str, points: list[tuple[str, float, float]]) -> Path:
    """A wrk script cycling through ``path`` with each point's query: both sides get the
    same script, so wrk spends the same on each request."""
    rows = ",".join(f'"{path}?lon={x}&lat={y}&crs={crs}"' for crs, x, y in points)
    script = Path(tempfile.mkdtemp()) / "locate.lua"
    script.write_text(f"local paths = {{{rows}}}\nlocal i = 0\n"
                      "request = function()\n  i = i % #paths + 1\n"
                      "  return wrk.format('GET', paths[i])\nend\n")
    return script


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    subprocess.run([str(BIN / "gridmap"), "db", "up"], check=True, capture_output=True)
    subprocess.run([str(BIN / "gridmap"), "demo", "load"], check=True, capture_output=True)
    points = sample_points(1000)
    bare_script, our_script = lua_script("/bare", points), lua_script("/api/locate", points)

    print(f"wrk: 2 threads, {args.connections} connections, {args.seconds} s; "
          f"uvicorn: {args.workers} workers; {os.cpu_count()} cores", flush=True)
    with server(["bench.bare_app:app"], args.workers, "/bare") as bare_base, \
            server(["api.app:create_app", "--factory"], args.workers, "/health") as our_base:
        wrk(bare_base + "/", 5, args.connections, bare_script)
        wrk(our_base + "/", 10, args.connections, our_script)  # numba, locator build, caches
        rounds = []
        for _ in range(args.rounds):  # alternate, so a passing load hits both alike
            rounds.append((wrk(bare_base + "/", args.seconds, args.connections, bare_script),
                           wrk(our_base + "/", args.seconds, args.connections, our_script)))
    for number, (bare_round, our_round) in enumerate(rounds, start=1):
        print(f"round {number}: bare {bare_round['rps']:.0f} req/s, ours {our_round['rps']:.0f} "
              f"req/s ({our_round['rps'] / bare_round['rps']:.2f})")
    bare = max((pair[0] for pair in rounds), key=lambda result: result["rps"])
    ours = max((pair[1] for pair in rounds), key=lambda result: result["rps"])

    for name, result in (("bare FastAPI", bare), ("GET /api/locate", ours)):
        print(f"{name:<18} {result['rps']:>9.0f} req/s   p50 {result['p50_ms']:6.2f} ms   "
              f"p99 {result['p99_ms']:6.2f} ms   non-2xx {result['errors']:.0f}")
    ratio = ours["rps"] / bare["rps"]
    ok = ratio >= 0.6 and ours["p99_ms"] <= 2 * bare["p99_ms"] and ours["errors"] == 0
    print(json.dumps({"bench": "locate_http", "ours": round(ours["rps"], 1),
                      "anchor": "bare FastAPI endpoint", "anchor_value": round(bare["rps"], 1),
                      "unit": "requests/s", "ratio": round(ratio, 3), "target": 0.6, "ok": ok,
                      "p50_ms": ours["p50_ms"], "p99_ms": ours["p99_ms"],
                      "anchor_p50_ms": bare["p50_ms"], "anchor_p99_ms": bare["p99_ms"],
                      "p99_target": "<= 2x anchor p99", "connections": args.connections,
                      "workers": args.workers, "errors": ours["errors"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
