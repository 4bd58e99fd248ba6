"""Property-based checks of the public API's argument handling: bad settings give a clear
ValueError naming the setting; good ones are accepted. (hypothesis)"""

import string

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.utils.data import TensorDataset

import tlcourse as tlc
from tlcourse.profiles import PROFILES

FAST = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
names = st.text(alphabet=string.ascii_lowercase + string.digits + "_-", min_size=1, max_size=20)
TINY = TensorDataset(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long))


@FAST
@given(names.filter(lambda n: n not in {*PROFILES, "auto"}))
def test_unknown_profiles_are_refused_with_the_valid_list(name):
    with pytest.raises(ValueError, match=r"unknown profile .*Valid: auto, full, offline"):
        tlc.get_profile(name)


@FAST
@given(names.filter(lambda n: n not in tlc.data.DATASETS))
def test_unknown_datasets_are_refused_with_the_valid_list(name):
    with pytest.raises(ValueError, match=r"unknown dataset .*Valid: .*clipart"):
        tlc.data.load(name)


@FAST
@given(names.filter(lambda n: n not in tlc.models.BACKBONES))
def test_unknown_backbones_are_refused_with_the_valid_list(name):
    with pytest.raises(ValueError, match=r"unknown backbone .*Valid: .*efficientnet_lite0"):
        tlc.models.get_spec(name)


@FAST
@given(st.one_of(st.integers(max_value=0), st.floats(allow_nan=True), st.booleans(),
                 st.none(), st.text(max_size=3)))
def test_bad_batch_sizes_are_refused(batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        tlc.data.make_loader(TINY, batch_size)


@FAST
@given(st.integers(min_value=1, max_value=64))
def test_good_batch_sizes_cover_every_item_once(batch_size):
    loader = tlc.data.make_loader(TINY, batch_size, shuffle=True)
    assert sum(len(y) for _, y in loader) == len(TINY)


@FAST
@given(st.one_of(st.integers(max_value=0), st.floats(), st.booleans()))
def test_bad_epoch_counts_are_refused(num_epochs):
    model = torch.nn.Linear(2, 2)
    loader = tlc.data.make_loader(TINY, 2)
    with pytest.raises(ValueError, match="num_epochs"):
        tlc.train.fit(model, loader, num_epochs=num_epochs, device="cpu", progress=False)


@FAST
@given(st.one_of(st.floats(max_value=0.0), st.just(float("nan"))))
def test_non_positive_learning_rates_are_refused(lr):
    model = torch.nn.Linear(2, 2)
    loader = tlc.data.make_loader(TINY, 2)
    with pytest.raises(ValueError, match="lr"):
        tlc.train.fit(model, loader, num_epochs=1, lr=lr, device="cpu", progress=False)


@FAST
@given(st.lists(st.integers(0, 4), min_size=1, max_size=60),
       st.floats(0.05, 0.95), st.integers(0, 2**16))
def test_stratified_split_is_a_partition_keeping_every_class(targets, frac, seed):
    targets = np.asarray(targets)
    a, b = tlc.data.stratified_split(targets, [frac, 1 - frac], seed=seed)
    assert sorted(np.concatenate([a, b]).tolist()) == list(range(len(targets)))
    for cls in np.unique(targets):
        n = int((targets == cls).sum())
        # its share, and never none: a class too small for a share still trains on one item
        assert int((targets[a] == cls).sum()) == max(1, round(frac * n))


@FAST
@given(st.one_of(st.integers(max_value=0), st.booleans(), st.floats()))
def test_bad_head_sizes_are_refused(num_classes):
    with pytest.raises(ValueError, match="num_classes"):
        tlc.models.replace_head(torch.nn.Sequential(torch.nn.Linear(3, 2)), num_classes)


@FAST
@given(st.integers(min_value=-(2**31), max_value=-1))
def test_negative_seeds_are_refused(seed):
    with pytest.raises(ValueError, match="seed"):
        tlc.seed_everything(seed)
