"""Files written into the installed system: units, scripts, the manifest, initramfs drivers."""
