"""
Drift statistics of production traffic against the training data.
"""
from __future__ import annotations
import numpy
import numpy.typing
import typing
__all__: list[str] = ['MmdResult', 'mmd_test']
class MmdResult:
    """
    Result of mmd_test (see cpp/monitor/mmd.h).
    """
    @property
    def bandwidth(self) -> float:
        """
        Gaussian kernel bandwidth used
        """
    @property
    def mmd2(self) -> float:
        """
        observed biased MMD^2
        """
    @property
    def null(self) -> numpy.typing.NDArray[numpy.float64]:
        """
        MMD^2 of each permutation (a copy)
        """
    @property
    def p_value(self) -> float:
        """
        permutation p-value
        """
def mmd_test(x: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], y: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], bandwidth: typing.SupportsFloat | typing.SupportsIndex = 0.0, permutations: typing.SupportsInt | typing.SupportsIndex = 500, seed: typing.SupportsInt | typing.SupportsIndex = 0) -> MmdResult:
    """
    Gaussian-kernel MMD^2 of x against y with a permutation p-value (median-heuristic bandwidth when <= 0).
    """
