import pytest
import torch


@pytest.fixture
def toy_images():
    """200 tiny 1x28x28 'images' whose label is decided by the brightness of four quadrants."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 1, 28, 28, generator=g) * 0.3
    y = torch.randint(0, 4, (200,), generator=g)
    for i, lab in enumerate(y.tolist()):
        r, c = divmod(lab, 2)
        x[i, 0, r * 14:(r + 1) * 14, c * 14:(c + 1) * 14] += 1.0
    return x, y
