"""WHUS2-CR as files: the split list, the 256/128 px window grid, the prepared tree and its
preparation from products, the thin-cloud model, the simulated testing set and the synthetic
products of the tests and the demo. No TensorFlow."""
