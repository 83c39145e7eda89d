"""The networks and their training in Keras 3: the CR-MSS generator and critic, the losses, the
GAN's training step, the ``tf.data`` input pipeline, numeric precision, run folders and
training with ``fit``."""
