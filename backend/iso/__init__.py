"""The product's own boot medium: `kldload-tui iso build`.

A hybrid ISO (CD, USB, UEFI and BIOS) and PXE artefacts carrying a live Debian
root with a prebuilt ZFS module, kldload-tui, sshd and optionally a darksite.
Modules, in the order a build uses them:

- `tools`: preflight (root, the host tools and the packages that carry them);
- `aptsrc`: the machine's own Debian mirror and a private apt that resolves
  package sets against it without touching the host's;
- `inputs`: what a build is made of, the package lists, and the hash of it all;
- `cache`: entries under /var/cache/kldload-iso keyed by those hashes;
- `chroot`: mounts for package scripts in a chroot, undone on every exit;
- `zfsmod`: DKMS in a chroot on the host, packaged as `zfs-modules-<kver>`;
- `liveroot`: the live root (mmdebstrap, live-boot, the module, kldload-tui);
- `darksite`: the apt repository an install uses with no network;
- `boot`: GRUB for BIOS and UEFI, grub.cfg, and the ISO itself (xorriso);
- `pxe`: the kernel, initrd, squashfs, an iPXE script and a pxelinux menu;
- `livessh`: run at boot in the live system: SSH keys or a one-time password;
- `build`: the steps in order, their timing and the summary.
"""
