"""cinedub: an AI dubbing studio."""

from cinedub.compat import install_torchvision_fix

__version__ = "0.1.0"

install_torchvision_fix()  # before anything imports torchvision (see cinedub/compat.py)
