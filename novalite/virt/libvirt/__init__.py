"""The libvirt driver (issue: "The libvirt driver for real"). Not implemented yet."""
