import sys
from pathlib import Path

# the tests of every stage share the helpers beside this file (_fits_images, _stars, _gaia_service)
HELPERS = Path(__file__).resolve().parent
if str(HELPERS) not in sys.path:
    sys.path.insert(0, str(HELPERS))
