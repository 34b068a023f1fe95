"""Programs built on autograd_lite: the tutorial's moon classifier and its experiments."""
