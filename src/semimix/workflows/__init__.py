"""What is done with finished runs: evaluate, attack, interpolation paths and SCAR, each opening its
runs (``semimix.runs``), computing, writing its files and returning the result as a dict.

The layer between ``semimix.runs`` and ``semimix.api``: ``semimix.api`` exposes these functions
and the CLI's commands (``semimix.commands``) parse arguments, call them and print what they return.
Module-level imports stay light (the CLI's help shows the defaults defined here): the functions
import torch and the rest of semimix when they run."""
