"""Programs built on autograd_lite: the tutorial's moon classifier, its experiments and its CLI.

Not installed by pip: run ``python -m models ...`` from the repository root.

    tutorial.py     the tutorial's settings and reported results, written once
    data.py         the moons data split, and points read from a CSV file
    manual.py       the tutorial's network with hand-derived gradients: the numpy reference
    network.py      the same network as an autograd_lite Module (MoonNet) and its training loop
    estimator.py    MoonClassifier, the scikit-learn estimator (fit, predict, save, load)
    gradients.py    the gradients by autograd, by hand and by finite differences, compared
    experiments.py  repeated trainings and the width sweep, spread over processes
    plots.py        the figures (deterministic PNG / SVG / PDF)
    report.py       the text the commands print
    cli.py          the command-line machinery; __main__.py: the commands themselves

DESIGN notes: names. One name per idea across these modules:

- ``hidden``: the width of the hidden layer (never ``n_hidden``); ``n_features`` and
  ``n_class`` the sizes of the input and of the output, as `MoonNet` and `manual` take them.
- Randomness follows scikit-learn in the estimators and the library elsewhere:
  ``random_state`` is the constructor argument of `MoonClassifier` and `manual.NeuralNet`
  (an int, None, a Generator, SeedSequence or, for the estimator, a RandomState);
  ``rng`` is what functions take (a numpy Generator, used as is so its state advances, a
  SeedSequence, an int seed or None), as `autograd_lite.nn` does; ``seed`` is always a
  plain non-negative int: the CLI's ``--seed``, and the root from which `experiments`
  spawns one SeedSequence per training.
- ``lr``, ``batch_size``, ``epochs``, ``optimizer``, ``init`` mean the same everywhere.
- Arguments are checked by `autograd_lite.validate`, the one module of checks that the
  library, these modules and the command lines share; nothing here calls another module's
  private ``_`` function.
"""
