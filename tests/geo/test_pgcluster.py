"""The private cluster: first start, harmless second start, stale pid files, stop."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from geo import pgcluster


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def scratch_cluster(tmp_path: Path) -> Iterator[pgcluster.Cluster]:
    cluster = pgcluster.cluster_for(tmp_path / "var", free_port(), "scratch")
    yield cluster
    pgcluster.down(cluster)
    shutil.rmtree(cluster.root, ignore_errors=True)


def answers(cluster: pgcluster.Cluster) -> bool:
    engine = create_engine(cluster.url())
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


def test_up_twice_then_down_then_up_over_a_stale_pid_file(
        scratch_cluster: pgcluster.Cluster, caplog: pytest.LogCaptureFixture) -> None:
    pgcluster.up(scratch_cluster)
    assert pgcluster.is_running(scratch_cluster) and answers(scratch_cluster)
    pgcluster.up(scratch_cluster)
    assert answers(scratch_cluster)

    pgcluster.down(scratch_cluster)
    assert not pgcluster.is_running(scratch_cluster)
    pid_file = scratch_cluster.data_dir / "postmaster.pid"
    pid_file.write_text(f"{os.getpid()}\n{scratch_cluster.data_dir}\n")  # alive, not postgres
    shutil.chown(pid_file, "postgres") if os.geteuid() == 0 else None

    with caplog.at_level("WARNING", logger="geo.pgcluster"):
        pgcluster.up(scratch_cluster)
    assert answers(scratch_cluster)
    assert "removing stale" in caplog.text  # not left for PostgreSQL to ignore, or not
    pgcluster.down(scratch_cluster)
    assert not pgcluster.is_running(scratch_cluster)


def test_a_checkout_the_server_user_cannot_reach_falls_back_to_the_temp_dir(
        tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    cluster = pgcluster.cluster_for(private / "checkout" / "var", 54400, "x")
    if os.geteuid() != 0:  # the server runs as this user, who reaches the checkout
        assert cluster.root == (private / "checkout" / "var").resolve()
        return
    assert not cluster.root.is_relative_to(private)
    assert cluster.root.name.startswith("gridmap-")
    again = pgcluster.cluster_for(private / "checkout" / "var", 54400, "x")
    assert again.root == cluster.root
    reachable = pgcluster.cluster_for(Path("/tmp/gridmap-reachable/var"), 54400, "x")
    assert reachable.root == Path("/tmp/gridmap-reachable/var")
