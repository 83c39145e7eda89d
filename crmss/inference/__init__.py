"""Whole scenes and arrays: blending weights of overlapping tiles, the generator's runner, strips
read from a product, :func:`crmss.clean` on arrays and ``crmss predict`` on products."""
