"""Machines: the description model, probing this one, disk inventory and verdicts, and the disks an
install will wipe.
"""
