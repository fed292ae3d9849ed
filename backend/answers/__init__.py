"""The answers model: its types, value checks, cross-field rules, the env file format, and the
reference and summary made from it.
"""
