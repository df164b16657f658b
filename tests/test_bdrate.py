import numpy as np
import pytest

from codec.bdrate import bd_psnr, bd_rate
from codec.errors import InputError

RATE = np.array([0.05, 0.1, 0.2, 0.4])
PSNR = np.array([28.0, 31.0, 33.5, 35.5])


def test_identical_curves():
    assert bd_rate(RATE, PSNR, RATE, PSNR) == pytest.approx(0, abs=1e-9)
    assert bd_psnr(RATE, PSNR, RATE, PSNR) == pytest.approx(0, abs=1e-9)


def test_ten_percent_fewer_bits():
    assert bd_rate(RATE, PSNR, 0.9 * RATE, PSNR) == pytest.approx(-10, abs=0.1)
    assert bd_rate(RATE, PSNR, 1.25 * RATE, PSNR) == pytest.approx(25, abs=0.1)


def test_one_db_better():
    assert bd_psnr(RATE, PSNR, RATE, PSNR + 1) == pytest.approx(1.0, abs=1e-9)
    assert bd_rate(RATE, PSNR, RATE, PSNR + 1) < 0


def test_order_does_not_matter():
    perm = [2, 0, 3, 1]
    assert bd_rate(RATE[perm], PSNR[perm], 0.9 * RATE, PSNR) == pytest.approx(-10, abs=0.1)


def test_errors():
    with pytest.raises(InputError, match="do not overlap"):
        bd_rate(RATE, PSNR, RATE, PSNR + 20)
    with pytest.raises(InputError, match="two points"):
        bd_rate(RATE[:1], PSNR[:1], RATE, PSNR)
    with pytest.raises(InputError):
        bd_rate(RATE, PSNR, -RATE, PSNR)
    with pytest.raises(InputError, match="distinct"):
        bd_rate(RATE, [30, 30, 31, 32], RATE, PSNR)
