"""Networking really blocked: a missing full-profile asset fails within seconds, naming the
asset and ``tlcourse fetch``. The child process runs in a fresh network namespace
(``unshare -rn``: no interface but a loopback that is down) without TLCOURSE_OFFLINE, so
what is tested is how tlcourse notices the network is gone, not an environment switch."""

import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest

LIMIT_S = 15  # seconds, a Python start and the tlcourse import included


def _unshare_error() -> str | None:
    if shutil.which("unshare") is None:
        return "the unshare command is not installed"
    try:
        probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"unshare -rn true failed: {err}"
    if probe.returncode != 0:
        return ("unshare -rn true failed (user namespaces are disabled here?): "
                + probe.stderr.decode(errors="replace").strip())
    return None


pytestmark = pytest.mark.skipif(_unshare_error() is not None,
                                reason=f"cannot block networking: {_unshare_error()}")

# Prints the error's type and message; exit code 3 when no error was raised.
CHILD = textwrap.dedent("""
    import sys
    import tlcourse as tlc

    try:
        {call}
    except Exception as err:
        print(type(err).__name__ + ": " + str(err))
        sys.exit(0)
    sys.exit(3)
""")


def _run_offline(call: str, cache) -> tuple[str, float]:
    env = {k: v for k, v in os.environ.items() if k != "TLCOURSE_OFFLINE"}
    env["TLCOURSE_CACHE"] = str(cache)
    start = time.perf_counter()
    done = subprocess.run(["unshare", "-rn", sys.executable, "-c", CHILD.format(call=call)],
                          env=env, capture_output=True, text=True, timeout=120)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, f"no error was raised:\n{done.stdout}{done.stderr}"
    return done.stdout.strip().splitlines()[-1], seconds


def test_the_namespace_really_has_no_network():
    done = subprocess.run(["unshare", "-rn", sys.executable, "-c", textwrap.dedent("""
        import socket
        try:
            socket.create_connection(("1.1.1.1", 443), timeout=5)
        except OSError as err:
            print("blocked", err)
        else:
            print("connected")
    """)], capture_output=True, text=True, timeout=60)
    assert done.stdout.startswith("blocked"), done.stdout + done.stderr


@pytest.mark.parametrize(("call", "asset"), [
    ('tlc.data.load("usps", "train")', "USPS"),
    ('tlc.models.load_backbone("resnet18", pretrained=True)', "resnet18 ImageNet weights"),
], ids=["dataset", "weights"])
def test_a_missing_full_profile_asset_fails_fast_and_says_how_to_fetch(tmp_path, call, asset):
    message, seconds = _run_offline(call, tmp_path / "empty_cache")
    assert message.startswith("AssetMissingError: "), message
    assert asset in message and "tlcourse fetch --profile full" in message, message
    assert seconds < LIMIT_S, f"took {seconds:.1f} s to fail: {message}"
