"""
airtune's C++ core (no torch). Use the airtune package rather than this module.
"""
from __future__ import annotations
class ParseError(ValueError):
    """Malformed input (airtune.ParseError)."""
    source: str
    line: int
    column: int
    reason: str
import typing
from . import io
from . import clean
from . import dedup
from . import distributed
from . import embed
from . import metrics
from . import monitor
from . import prompts
from . import records
__all__: list[str] = ['NN_TORCH_VERSION', 'ParseError', 'build_info', 'clean', 'dedup', 'distributed', 'embed', 'get_num_threads', 'io', 'metrics', 'monitor', 'prompts', 'records', 'set_num_threads']
def build_info() -> dict[str, str | bool | int | dict[str, str | int]]:
    """
    Versions of the libraries linked into _core and the BLAS in use.
    """
def get_num_threads() -> int:
    ...
def set_num_threads(n: typing.SupportsInt | typing.SupportsIndex) -> None:
    """
    Size of the oneTBB arena (and of OpenMP/OpenBLAS) used by all airtune work.
    """
NN_TORCH_VERSION: str = '2.13.0'
__version__: str = '0.1.0'
