"""Finding the answers: a file, a URL from the kernel command line, or a seed disk read without
mounting.
"""
