"""The networks and their training in Keras 3: the CR-MSS generator and critic, the losses, the
GAN's training step, the input pipeline (``tf.data`` on TensorFlow, a PyDataset on JAX), what
differs between Keras's backends, numeric precision, distribution, run folders and training
with ``fit``."""
