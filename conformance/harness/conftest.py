"""conftest.py - the lanes run once per pytest session; every check reads their results."""
import os
import tempfile

import pytest

import vc_lanes


@pytest.fixture(scope="session")
def out_dir():
    path = os.environ.get("VMSIM_CONFORM_OUT") or tempfile.mkdtemp(prefix="vmsim-conform-")
    os.makedirs(path, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def lanes(out_dir):
    return [vc_lanes.run_lane(lane, out_dir) for lane in vc_lanes.available_lanes()]


@pytest.fixture(scope="session")
def lane_by_name(lanes):
    return {lane.name: lane for lane in lanes}
