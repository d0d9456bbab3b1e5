"""The local image store: image files plus an images.json index in ``[image] local_dir``.

novalite has no image service of its own; this small store stands in for Glance. The
API serves it read-only in Glance v2's shape (so ``openstack server create --image X``
can look images up), and compute drivers find an image's file through it.
"""
