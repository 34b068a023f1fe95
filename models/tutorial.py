"""The tutorial's settings and reported results, written once (see BLOG_REFERENCE in the docs).

Every default of `models/` (the data, the network, the experiments, the command line) comes
from here, so a number such as the 3750 training rows appears in one place.
"""

from __future__ import annotations

import math

# The data: make_moons(N_SAMPLES, noise=NOISE, random_state=DATA_SEED), then
# train_test_split(X, y, test_size=TEST_FRACTION, random_state=DATA_SEED).
N_SAMPLES = 5000
NOISE = 0.1
DATA_SEED = 42
TEST_FRACTION = 0.25
N_TEST = math.ceil(TEST_FRACTION * N_SAMPLES)  # 1250 (train_test_split rounds the test part up)
N_TRAIN = N_SAMPLES - N_TEST  # 3750

# One training: 2 -> HIDDEN (ReLU) -> 2, minibatch SGD on the summed cross-entropy.
HIDDEN = 64
BATCH_SIZE = 10
EPOCHS = 10
LR = 1e-4

# The experiments: repeated trainings, the class-based run, and the width sweep
# (widths range(SWEEP_MIN_HIDDEN, SWEEP_MAX_HIDDEN), SWEEP_TRIALS trainings each).
RUNS = 100
CLASS_HIDDEN = 99
CLASS_BATCH_SIZE = 20
SWEEP_MIN_HIDDEN = 3
SWEEP_MAX_HIDDEN = 40
SWEEP_TRIALS = 3
SWEEP_EPOCHS = 100

# What the tutorial reported: mean and (population) std of RUNS test accuracies, and the
# test accuracy of its class-based run.
RESULTS = {"mean": 0.94541, "std": 0.019558, "class_based": 0.9496}
