"""The text lesson's full-profile assets, without a network: GLUE's SST-2 archive (a stand-in
in its real layout, through the real downloader) and a hub encoder's cached folder (a tiny
DistilBERT written under the real file names)."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile

import pytest

from tlcourse.data import AssetMissingError, ChecksumError, download
from tlcourse.data.download import md5_file
from tlcourse.text import data as text_data
from tlcourse.text import encoder as text_encoder

TRAIN = "sentence\tlabel\nhide new secretions from the parental units \t0\n" \
        "contains no wit , only labored gags \t0\nthat loves its characters \t1\n"
DEV = "sentence\tlabel\nit 's a charming and often affecting journey . \t1\n" \
      "unflinchingly bleak and desperate \t0\n"


@pytest.fixture
def sst2_zip(tmp_path):
    path = tmp_path / "remote" / "SST-2.zip"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as zf:       # GLUE's layout: SST-2/{train,dev,test}.tsv
        zf.writestr("SST-2/train.tsv", TRAIN)
        zf.writestr("SST-2/dev.tsv", DEV)
        zf.writestr("SST-2/test.tsv", "index\tsentence\n0\tno labels here\n")
    return path


def test_sst2_is_downloaded_once_checked_and_parsed(sst2_zip, tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path / "cache"))
    url, md5 = sst2_zip.as_uri(), md5_file(sst2_zip)
    train = text_data._sst2("train", url=url, md5=md5)
    assert train.texts == ["hide new secretions from the parental units",
                           "contains no wit , only labored gags", "that loves its characters"]
    assert train.labels.tolist() == [0, 0, 1] and train.domain == "sst2"
    test = text_data._sst2("test", url=url, md5=md5)            # GLUE's dev set
    assert test.labels.tolist() == [1, 0] and len(test) == 2
    assert (tmp_path / "cache" / "sst2" / "SST-2.zip").is_file()
    sst2_zip.unlink()                                            # cached: no second download
    assert len(text_data._sst2("train", url=url, md5=md5)) == 3
    with pytest.raises(ValueError, match="dev set"):
        text_data._sst2("validation", url=url, md5=md5)


def test_an_archive_with_the_wrong_md5_is_discarded(sst2_zip, tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ChecksumError, match="MD5"):
        text_data._sst2("train", url=sst2_zip.as_uri(), md5=text_data.SST2_MD5)
    assert not (tmp_path / "cache" / "sst2" / "SST-2.zip").exists()


def test_md5_and_sha256_are_both_checked(sst2_zip, tmp_path):
    sha = hashlib.sha256(sst2_zip.read_bytes()).hexdigest()
    good = download(sst2_zip.as_uri(), tmp_path / "a.zip", sha, md5=md5_file(sst2_zip))
    assert good.read_bytes() == sst2_zip.read_bytes()
    with pytest.raises(ChecksumError, match="MD5"):
        download(sst2_zip.as_uri(), tmp_path / "b.zip", sha, md5="0" * 32)


def test_a_file_that_is_not_glues_sst2_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path / "cache"))
    bad = tmp_path / "SST-2.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("SST-2/train.tsv", "text,label\nhello,1\n")
    with pytest.raises(ValueError, match="header"):
        text_data._sst2("train", url=bad.as_uri(), md5=None)


def _stand_in_distilbert(folder):
    """A 2-layer DistilBERT with random weights, saved as the hub's files would be, with
    MiniLM's (BERT uncased) WordPiece vocabulary: the real formats, not the real weights."""
    from transformers import DistilBertConfig, DistilBertModel

    folder.mkdir(parents=True)
    config = DistilBertConfig(n_layers=2, dim=32, hidden_dim=64, n_heads=2, vocab_size=30522)
    DistilBertModel(config).save_pretrained(folder, safe_serialization=True)
    shutil.copy(text_encoder.encoder_path() / "tokenizer.json", folder / "tokenizer.json")
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "DistilBertTokenizer", "do_lower_case": True,
         "model_max_length": 512}))


def test_a_cached_hub_encoder_loads_and_trains_with_the_network_blocked(tmp_path):
    if shutil.which("unshare") is None or subprocess.run(
            ["unshare", "-rn", "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot block networking here (unshare -rn)")
    cache = tmp_path / "cache"
    _stand_in_distilbert(cache / "encoders" / "distilbert-base-uncased")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env["TLCOURSE_CACHE"] = str(cache)
    done = subprocess.run(["unshare", "-rn", sys.executable, "-c", textwrap.dedent("""
        import torch
        import tlcourse as tlc
        from tlcourse.text import SentenceClassifier, TextCollate, load_encoder
        tokenizer, model = load_encoder("distilbert-base-uncased")
        batch = TextCollate(tokenizer)([("a charming journey", 1), ("bleak", 0)])
        clf = SentenceClassifier(model, 2)
        history = tlc.train.fit(clf, [batch], num_epochs=1, progress=False)
        loss = history.last("train_loss")
        print(type(model).__name__, sorted(batch), len(history), loss == loss and loss > 0)
    """)], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.split("\n")[-2] == (
        "DistilBertModel ['attention_mask', 'input_ids', 'labels'] 1 True")


def test_a_hub_encoder_not_in_the_cache_fails_fast_naming_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("TLCOURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TLCOURSE_OFFLINE", "1")
    with pytest.raises(AssetMissingError, match="tlcourse fetch --profile full"):
        text_encoder.encoder_path("distilbert-base-uncased")
    assert text_encoder.hub_folder("org/model").name == "org--model"
