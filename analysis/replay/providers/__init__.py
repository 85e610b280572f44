"""Model providers behind one protocol (base.py); the registry maps names and CLI specs to them."""
