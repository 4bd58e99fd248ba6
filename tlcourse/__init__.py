"""tlcourse: the helper package of a hands-on course on transfer learning.

    import tlcourse as tlc
    env = tlc.setup()                 # device, seeds, profile, a short report
    profile = tlc.get_profile(env.profile)
"""

__version__ = "0.1.0"

from tlcourse import claims, data, exercises, models, plot, profiles, train
from tlcourse.env import get_device, seed_everything, setup
from tlcourse.profiles import get_profile

__all__ = [
           "__version__",
           "claims",
           "data",
           "exercises",
           "get_device",
           "get_profile",
           "models",
           "plot",
           "profiles",
           "seed_everything",
           "setup",
           "train",
]
