"""tlcourse: the helper package of a hands-on course on transfer learning.

    import tlcourse as tlc
    env = tlc.setup()                 # device, seeds, profile, a short report
    profile = tlc.get_profile(env.profile)
"""

__version__ = "0.1.0"

from tlcourse import (
    accel,
    adapt,
    callbacks,
    checkpoint,
    claims,
    continual,
    crossmodal,
    data,
    distributed,
    exercises,
    features,
    fewshot,
    io,
    models,
    multitask,
    plot,
    profiles,
    regularize,
    schedules,
    ssl,
    train,
    transferability,
    widgets,
)
from tlcourse.env import get_device, seed_everything, setup
from tlcourse.profiles import get_profile

exercises.solutions.register()  # %%solution in a notebook's kernel; nothing outside IPython

__all__ = ["__version__", "accel", "adapt", "callbacks", "checkpoint", "claims", "continual",
           "crossmodal", "data", "distributed", "exercises", "features", "fewshot", "get_device",
           "get_profile",
           "io", "models", "multitask", "plot", "profiles", "regularize", "schedules",
           "seed_everything", "setup", "ssl", "train", "transferability", "widgets"]
