"""Datasets, transforms and loaders: ``tlc.data.load("clipart", "train", transform=...)``."""

from tlcourse.data.arrays import ArrayDataset, per_class_subset, stratified_split, targets_of
from tlcourse.data.download import AssetMissingError, ChecksumError, cache_dir, download
from tlcourse.data.folder import FolderDataset, load_folder, to_rgb_array
from tlcourse.data.loaders import loader_settings, make_loader
from tlcourse.data.registry import DATASETS, PHOTOS, available, data_root, load, load_photos
from tlcourse.data.transforms import image_transform

__all__ = [
           "DATASETS",
           "PHOTOS",
           "ArrayDataset",
           "AssetMissingError",
           "ChecksumError",
           "FolderDataset",
           "available",
           "cache_dir",
           "data_root",
           "download",
           "image_transform",
           "load",
           "load_folder",
           "load_photos",
           "loader_settings",
           "make_loader",
           "per_class_subset",
           "stratified_split",
           "targets_of",
           "to_rgb_array",
]
