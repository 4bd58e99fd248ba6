"""A frozen backbone as a feature extractor: extract embeddings once, cache them, probe them.

``extract`` runs a dataset through a backbone (in eval mode, under ``torch.inference_mode``,
in large batches; on CUDA with mixed precision, halving the batch if memory runs out),
global-average-pools the activations of one or several layers, and saves the result with
:func:`tlcourse.io.cached` (atomic, checksummed). The cache key is built from everything
that determines the numbers: the backbone's name, a hash of ALL its weights, the dataset's
identity (for in-memory data, a hash of the image bytes and targets; for a folder read from
disk, its files' names, sizes and modification times), its transform and the layers.
Change any of them and the features are extracted again; change none and they are loaded in
a fraction of the time. Introduced in notebook 01.

Example:
    >>> import tlcourse as tlc
    >>> model = tlc.models.load_backbone("efficientnet_lite0", pretrained=False)
    >>> depth_layers(model)[:3]
    ['stem', 'stage1', 'stage2']
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Subset, TensorDataset

from tlcourse import distributed
from tlcourse.accel import _autocast, _move, amp_dtype, retry_with_smaller_batches
from tlcourse.data.arrays import ArrayDataset, targets_of
from tlcourse.data.download import cache_dir
from tlcourse.data.folder import FolderDataset
from tlcourse.data.loaders import make_loader
from tlcourse.env import get_device
from tlcourse.io import cache_key, cached
from tlcourse.profiles import unknown_name_error
from tlcourse.progress import progress_bar

__all__ = ["ExtractionInfo", "cache_path", "dataset_identity", "depth_layers", "extract",
           "extraction_key", "knn_predict", "linear_probe", "nearest_neighbours",
           "pooled_features", "weights_identity"]

#: Bump when the cached format or the pooling changes, so old files are not trusted.
FORMAT_VERSION = 1
CACHE_KIND = "features"


@dataclass(frozen=True)
class ExtractionInfo:
    """How an :func:`extract` call went: ``hit`` (loaded from the cache), ``seconds`` (this
    call) and ``build_seconds`` (the extraction, by this call on a miss, else an earlier one).
    """

    hit: bool
    seconds: float
    build_seconds: float
    key: str
    path: Path | None


def _sha(*arrays) -> str:
    digest = hashlib.sha256()
    for a in arrays:
        if isinstance(a, torch.Tensor):
            a = a.detach().cpu()
            a = a.float() if a.dtype == torch.bfloat16 else a
            a = a.contiguous().numpy()
        digest.update(np.ascontiguousarray(a).view(np.uint8).reshape(-1).data)
    return digest.hexdigest()[:16]


def weights_identity(model: nn.Module) -> str:
    """A hash of every parameter and buffer (names, shapes, values) of ``model``.

    All of them, not a sample: fine-tuned weights often differ only in the last layers.
    """
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
        digest.update(_sha(tensor).encode())
    return digest.hexdigest()[:16]


def dataset_identity(dataset) -> dict:
    """What makes a dataset's inputs what they are: content hashes, split, transform."""
    if isinstance(dataset, Subset):
        return {"subset_of": dataset_identity(dataset.dataset),
                "indices": _sha(np.asarray(dataset.indices, dtype=np.int64))}
    if isinstance(dataset, TensorDataset):
        return {"tensors": [_sha(t) for t in dataset.tensors]}
    identity = {"type": type(dataset).__qualname__, "len": len(dataset),
                "transform": repr(getattr(dataset, "transform", None))}
    if isinstance(dataset, ArrayDataset):
        return identity | {"name": dataset.name, "images": _sha(dataset.images),
                           "targets": _sha(dataset.targets)}
    if isinstance(dataset, FolderDataset):  # files not yet decoded: their names, sizes, times
        files = hashlib.sha256(repr(dataset.file_identity()).encode()).hexdigest()[:16]
        return identity | {"name": dataset.name, "files": files, "size": dataset.size,
                           "targets": _sha(dataset.targets)}
    # Datasets read from files (torchvision): their repr names root, split and transform.
    identity["repr"] = repr(dataset)
    for attr in ("_image_files", "imgs", "samples", "data"):
        value = getattr(dataset, attr, None)
        if isinstance(value, np.ndarray | torch.Tensor):  # pixels in memory (CIFAR, MNIST)
            identity[attr] = _sha(value)
        elif value is not None:  # file lists
            identity[attr] = hashlib.sha256(repr(value).encode()).hexdigest()[:16]
    return identity | {"targets": _sha(np.asarray(targets_of(dataset), dtype=np.int64))}


def depth_layers(model: nn.Module) -> list[str]:
    """Layer names, shallow to deep, that :func:`extract` can probe for this backbone.

    EfficientNet-Lite0: the stem, its seven stages and the head; torchvision ResNets: the
    stem (``maxpool``) and ``layer1``..``layer4``; models with a ``features`` sequence
    (MobileNet, EfficientNet-B0): each of its blocks. The last name is the usual embedding.
    """
    if hasattr(model, "feature_maps") and hasattr(model, "stage_ends"):
        return ["stem", *[f"stage{i + 1}" for i in range(len(model.stage_ends))], "head"]
    if all(hasattr(model, f"layer{i}") for i in range(1, 5)):
        return ["maxpool", "layer1", "layer2", "layer3", "layer4"]
    if isinstance(getattr(model, "features", None), nn.Sequential):
        return [f"features.{i}" for i in range(len(model.features))]
    return []


def _pool(activation: torch.Tensor) -> torch.Tensor:
    """Global average pooling: ``(N, C, H, W) -> (N, C)``; 2-D inputs are left as they are."""
    return activation.flatten(2).mean(-1) if activation.ndim > 2 else activation


def pooled_features(model: nn.Module, x: torch.Tensor, layers: list[str] | None
                    ) -> dict[str, torch.Tensor]:
    """Globally average-pooled activations of ``layers`` for the batch ``x``.

    ``layers=None`` returns ``{"output": model(x)}`` (a model whose head was removed with
    :func:`tlcourse.models.feature_extractor`, say).
    """
    if layers is None:
        return {"output": _pool(model(x))}
    names = depth_layers(model)
    if hasattr(model, "feature_maps") and hasattr(model, "stage_ends"):
        maps = dict(zip(names, model.feature_maps(x), strict=True))
        for name in layers:
            if name not in maps:
                raise unknown_name_error("layer", name, names)
        return {name: _pool(maps[name]) for name in layers}
    found: dict[str, torch.Tensor] = {}
    hooks = []
    for name in layers:
        try:
            module = model.get_submodule(name)
        except AttributeError as err:
            raise unknown_name_error("layer", name, names) from err
        hooks.append(module.register_forward_hook(
            lambda _m, _i, out, name=name: found.__setitem__(name, _pool(out))))
    try:
        model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return {name: found[name] for name in layers}


def _layer_list(model: nn.Module, layer) -> list[str] | None:
    if layer == "all":
        return depth_layers(model)
    if layer is None:
        return depth_layers(model)[-1:] or None
    return [layer] if isinstance(layer, str) else list(layer)


def extraction_key(model: nn.Module, dataset, layers: list[str] | None,
                   precision: torch.dtype | None = None) -> str:
    """The cache key of ``extract(model, dataset, layer=...)``: model, data, transform, layers.

    ``precision``: the autocast dtype on a GPU (``None``: float32), since it changes the
    numbers; float32 keys are the same on every device.
    """
    extra = {} if precision is None else {"precision": str(precision)}
    return cache_key(version=FORMAT_VERSION, backbone=getattr(model, "tlc_backbone",
                                                              type(model).__qualname__),
                     weights=weights_identity(model), data=dataset_identity(dataset),
                     layers=layers, pooling="global average", **extra)


#: Default extraction batch sizes. No gradients are kept, so a GPU takes large batches.
#: On a CPU small ones are faster: EfficientNet-Lite0 at 128 px ran at 126 images/s in
#: batches of 16 and 68 in batches of 64 (one thread; benchmarks/RESULTS.md), as a small
#: batch's activations stay in the CPU's caches.
BATCH_SIZE = {"cuda": 256, "mps": 64, "cpu": 16}


def _run(model, loader, dev, layers, dtype, progress) -> tuple[dict, list]:
    feats: dict[str, list[torch.Tensor]] = {}
    targets = []
    with torch.inference_mode():
        for batch in progress_bar(loader, desc="extract features", disable=not progress,
                                  unit="batch"):
            # channels_last: 1.6-2x faster on a 2-core CPU, faster on GPUs
            x = _move(batch[0], dev, channels_last=True)
            with _autocast(dev, dtype):
                pooled = pooled_features(model, x, layers)
            for name, f in pooled.items():
                feats.setdefault(name, []).append(f.float().cpu())
            targets.append(torch.as_tensor(batch[1]).cpu())
    return feats, targets


def cache_path(key: str, folder: str | Path | None = None) -> Path:
    """Where :func:`tlcourse.io.cached` keeps the features with this key."""
    return Path(folder or cache_dir()) / CACHE_KIND / f"{key}.pt"


def extract(model: nn.Module, dataset, *, device: torch.device | str | None = None,
            batch_size: int | None = None, layer: str | list[str] | None = None,
            cache: bool = True, folder: str | Path | None = None, progress: bool = True,
            return_info: bool = False, amp: bool | str = "auto"):
    """Features of every item of ``dataset`` under a frozen ``model``, cached on disk.

    Args:
        batch_size: ``None``: :data:`BATCH_SIZE` (256 on CUDA, 16 on a CPU). If CUDA runs
            out of memory it is
            halved (with a warning) and the extraction starts again.
        layer: ``None``: the backbone's usual embedding (its deepest layer, pooled); a
            name from :func:`depth_layers`; a list of names or ``"all"``: a dict of them.
        cache: load from / save to the cache (``folder``, default the course cache).
        return_info: also return an :class:`ExtractionInfo` (cache hit, timings).
        amp: ``"auto"``: mixed precision on CUDA (bf16, else fp16), float32 elsewhere.

    On a miss the model is moved to ``device`` in channels_last memory format (and stays
    so), run in eval mode, and put back in the train/eval mode it had. Under ``torchrun``
    each process extracts a slice of the dataset, every process gets all the features, and
    rank 0 alone writes the cache (:mod:`tlcourse.distributed`): call it on every process.

    Returns:
        ``(features, targets)``: features ``(N, D)`` float32 on the CPU (or a dict
        name -> ``(N, D_name)`` for several layers) and targets ``(N,)``.
    """
    start, layers = time.perf_counter(), _layer_list(model, layer)
    many = not (layer is None or isinstance(layer, str)) or layer == "all"
    dev = get_device(None if device is None else str(device))
    spread = distributed.init(dev)  # under torchrun: join the process group
    dev = distributed.device_for_rank(dev)
    dtype = amp_dtype(dev, amp)
    world = distributed.world_size()
    sliced = spread and 1 < world <= len(dataset)  # each process a slice of the dataset

    def build() -> dict:
        t0 = time.perf_counter()
        was_training = model.training
        model.to(dev, memory_format=torch.channels_last).eval()
        size = batch_size or BATCH_SIZE.get(dev.type, BATCH_SIZE["cpu"])
        part = Subset(dataset, range(distributed.rank(), len(dataset), world)) if sliced \
            else dataset
        loader = make_loader(part, size, device=dev)
        try:
            (feats, targets), _ = retry_with_smaller_batches(
                lambda batches: _run(model, batches, dev, layers, dtype,
                                     progress and distributed.is_main()),
                loader, "extracting features")
        finally:
            model.train(was_training)
        value = ({name: torch.cat(f) for name, f in feats.items()}, torch.cat(targets))
        if sliced:
            value = distributed.gather_shards(value)
        return {"features": value[0], "targets": value[1],
                "seconds": time.perf_counter() - t0}

    key = extraction_key(model, dataset, layers, dtype)
    if cache and spread:
        value, hit = distributed.cached(CACHE_KIND, key, build, folder)
    elif cache:
        value, hit = cached(CACHE_KIND, key, build, folder)
    else:
        value, hit = build(), False
    features = value["features"]
    if not many:
        features = next(iter(features.values()))
    if not return_info:
        return features, value["targets"]
    info = ExtractionInfo(hit=hit, seconds=time.perf_counter() - start,
                          build_seconds=float(value["seconds"]), key=key,
                          path=cache_path(key, folder) if cache else None)
    return features, value["targets"], info


def _numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def linear_probe(train_x, train_y, test_x, test_y, *, C: float = 1.0,
                 standardize: bool = False, max_iter: int = 2000) -> float:
    """Test accuracy of a logistic regression fitted on ``(train_x, train_y)``.

    Multinomial logistic regression (L2 penalty, strength ``1 / C``). Inputs of any shape
    ``(N, ...)`` are flattened, so raw pixels work too. ``standardize`` first scales each
    column by the training set's mean and standard deviation; with one or two labels per
    class those estimates are noise, which cost 10 points in notebook 01, so it is off.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    for name, x in (("training", train_x), ("test", test_x)):
        if len(x) == 0:
            raise ValueError(f"linear_probe: the {name} set is empty. With k labels per class "
                             "taken for training, every class needs more than k examples for "
                             "the test set: choose a smaller k or a larger dataset.")
    train_x, test_x = (_numpy(a).reshape(len(a), -1) for a in (train_x, test_x))
    steps = [StandardScaler()] if standardize else []
    clf = make_pipeline(*steps, LogisticRegression(C=C, max_iter=max_iter))
    # One BLAS thread: on these small problems more threads fight torch's (measured 20x
    # slower with 2 threads on a busy 2-core CPU).
    with threadpool_limits(1):
        clf.fit(train_x, _numpy(train_y))
        return float((clf.predict(test_x) == _numpy(test_y)).mean())


def nearest_neighbours(query: torch.Tensor, gallery: torch.Tensor, k: int
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` gallery rows most similar (cosine) to each query row.

    Returns:
        ``(indices, similarities)``, both ``(len(query), k)``, most similar first.
    """
    query = nn.functional.normalize(torch.as_tensor(query, dtype=torch.float32), dim=1)
    gallery = nn.functional.normalize(torch.as_tensor(gallery, dtype=torch.float32), dim=1)
    sims, indices = (query @ gallery.T).topk(min(k, len(gallery)), dim=1)
    return indices, sims


def knn_predict(train_x: torch.Tensor, train_y: torch.Tensor, query: torch.Tensor,
                k: int = 5) -> torch.Tensor:
    """Majority vote of the ``k`` nearest (cosine) training items; ties go to the class
    whose neighbours are, together, more similar.

    Example:
        >>> train = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
        >>> knn_predict(train, torch.tensor([0, 0, 1]), torch.tensor([[0.2, 1.0]]), k=1)
        tensor([1])
    """
    indices, sims = nearest_neighbours(query, train_x, k)
    train_y = torch.as_tensor(train_y)
    num_classes = int(train_y.max()) + 1
    votes = nn.functional.one_hot(train_y[indices], num_classes).float()
    # Similarities are at most 1 each, so they only break ties between equal counts.
    score = votes.sum(1) + votes.mul(sims.unsqueeze(-1)).sum(1) / (k + 1)
    return score.argmax(1)
