"""Golden images: sealing the target, converting the disk, the OVA descriptor, and the upload."""
