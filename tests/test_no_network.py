"""Networking really blocked: a missing full-profile asset fails within seconds, naming the
asset and ``tlcourse fetch``. The child process runs in a fresh network namespace
(``unshare -rn``: no interface but a loopback that is down) without TLCOURSE_OFFLINE, so
what is tested is how tlcourse notices the network is gone, not an environment switch."""

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

# Seconds for the failing call itself, timed inside the child after its imports: a machine
# busy with other work (make test runs two workers on two cores) slows a Python start and the
# torch import several-fold, but a network wait is what this catches, and it is not CPU-bound.
LIMIT_S = 10


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

# Prints the error's type and message on one line, then the seconds the call took; exit code
# 3 when no error was raised.
CHILD = textwrap.dedent("""
    import sys
    import time
    import tlcourse as tlc
    import torchvision  # noqa: F401  (imported lazily by the call: not part of its time)

    start = time.perf_counter()
    try:
        {call}
    except Exception as err:
        seconds = time.perf_counter() - start
        print((type(err).__name__ + ": " + str(err)).replace("\\n", " "))
        print(seconds)
        sys.exit(0)
    sys.exit(3)
""")


def _run_offline(call: str, cache) -> tuple[str, float]:
    env = {k: v for k, v in os.environ.items() if k != "TLCOURSE_OFFLINE"}
    env["TLCOURSE_CACHE"] = str(cache)
    done = subprocess.run(["unshare", "-rn", sys.executable, "-c", CHILD.format(call=call)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"no error was raised:\n{done.stdout}{done.stderr}"
    message, seconds = done.stdout.strip().splitlines()[-2:]
    return message, float(seconds)


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


def test_the_offline_encoder_loads_and_encodes_with_the_network_blocked():
    # No HF_* switch in the environment: load_encoder must turn the hub off itself.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    done = subprocess.run(["unshare", "-rn", sys.executable, "-c", textwrap.dedent("""
        import time
        import torch
        from tlcourse.text import load_encoder, mean_pool, tokenize
        start = time.perf_counter()
        tokenizer, model = load_encoder()
        batch = tokenize(tokenizer, ["no network, no problem"])
        with torch.no_grad():
            vector = mean_pool(model(**batch).last_hidden_state, batch["attention_mask"])
        print(tuple(vector.shape), time.perf_counter() - start)
    """)], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    shape, seconds = done.stdout.strip().splitlines()[-1].rsplit(" ", 1)
    assert shape == "(1, 384)"
    assert float(seconds) < 60, f"loading took {float(seconds):.0f} s: a network wait?"
