"""The fairshare signature rule (SPEC.md section 5.1) in pure Python.

Written from SPEC.md alone: point decoding that accepts the non-canonical encodings
(y in [p, 2^255) reduced mod p; x = 0 with the sign bit set), s < l, the challenge over
the bytes as given, and the cofactored equation [8]([s]B - [k]A - R) = O.

`verify` is the exact rule. `verify_fast` tries `cryptography`'s Ed25519 first (a strict
cofactorless RFC 8032 verifier, which accepts a subset of what the rule accepts, SPEC.md
5.2) and falls back to `verify` only where the library refuses.
"""

import hashlib

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)

# Points in extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, x*y = T/Z.
IDENTITY = (0, 1, 1, 0)


def _add(p1, p2):
    x1, y1, z1, t1 = p1
    x2, y2, z2, t2 = p2
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * t1 * t2 * D % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _double(p1):
    return _add(p1, p1)


def _mul(n, point):
    q = IDENTITY
    while n > 0:
        if n & 1:
            q = _add(q, point)
        point = _double(point)
        n >>= 1
    return q


def _neg(point):
    x, y, z, t = point
    return ((-x) % P, y, z, (-t) % P)


def _is_identity(point):
    x, y, z, _ = point
    return x % P == 0 and (y - z) % P == 0


def _equal(p1, p2):
    x1, y1, z1, _ = p1
    x2, y2, z2, _ = p2
    return (x1 * z2 - x2 * z1) % P == 0 and (y1 * z2 - y2 * z1) % P == 0


def _sqrt(a):
    """A square root of a mod p, or None."""
    a %= P
    x = pow(a, (P + 3) // 8, P)
    if (x * x - a) % P == 0:
        return x
    x = x * SQRT_M1 % P
    if (x * x - a) % P == 0:
        return x
    return None


_BY = 4 * pow(5, P - 2, P) % P
_BX = None


def _recover_x(y, sign):
    """SPEC.md 5.1 step 2: the even root, then the sign bit negates (x = 0 either way)."""
    num = (y * y - 1) % P
    den = (D * y * y + 1) % P
    x = _sqrt(num * pow(den, P - 2, P))
    if x is None:
        return None
    if x & 1:
        x = P - x
    if sign:
        x = (P - x) % P
    return x


def decode_point(b):
    """SPEC.md 5.1 step 2 (curve25519-dalek's decoding): None when the bytes decode to no point."""
    if len(b) != 32:
        return None
    n = int.from_bytes(b, "little")
    sign = n >> 255
    y = (n & ((1 << 255) - 1)) % P
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % P)


def encode_point(point):
    x, y, z, _ = point
    zi = pow(z, P - 2, P)
    x, y = x * zi % P, y * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


BASE = (lambda x: (x, _BY, 1, x * _BY % P))(_recover_x(_BY, 0))


def is_canonical_encoding(b):
    pt = decode_point(b)
    return pt is not None and encode_point(pt) == bytes(b)


def is_torsion_free(point):
    """[l]A = O: no small-order component (SPEC.md 6.3); the identity itself is of small order."""
    return _is_identity(_mul(L, point)) and not _is_identity(point)


def genesis_key_ok(b):
    """SPEC.md 6.3: 32 bytes that decode (5.1 decoding) to a torsion-free point."""
    pt = decode_point(b)
    if pt is None:
        return False, "is not a valid ed25519 public key"
    if _is_identity(pt) or not _is_identity(_mul(L, pt)):
        return False, "is a weak ed25519 public key (it has a small-order component)"
    return True, None


def verify(public_key, message, signature):
    """The exact rule of SPEC.md 5.1."""
    if len(signature) != 64 or len(public_key) != 32:
        return False
    r_bytes, s_bytes = bytes(signature[:32]), bytes(signature[32:])
    s = int.from_bytes(s_bytes, "little")
    if s >= L:
        return False
    r = decode_point(r_bytes)
    if r is None:
        return False
    a = decode_point(bytes(public_key))
    if a is None:
        return False
    k = int.from_bytes(hashlib.sha512(r_bytes + bytes(public_key) + bytes(message)).digest(), "little") % L
    # [8]([s]B - [k]A - R) == O
    lhs = _add(_add(_mul(s, BASE), _neg(_mul(k, a))), _neg(r))
    return _is_identity(_mul(8, lhs))


try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
except ImportError:  # pragma: no cover
    Ed25519PublicKey = None


class Verifier:
    """Fast path through `cryptography`, exact rule where it refuses; counts both."""

    def __init__(self):
        self.fast_accepted = 0
        self.fallback_checked = 0
        self.fallback_accepted = 0
        self._keys = {}

    def verify(self, public_key, message, signature):
        public_key = bytes(public_key)
        if Ed25519PublicKey is not None and len(signature) == 64:
            key = self._keys.get(public_key)
            if key is None:
                try:
                    key = Ed25519PublicKey.from_public_bytes(public_key)
                except ValueError:
                    key = False
                self._keys[public_key] = key
            if key:
                try:
                    key.verify(bytes(signature), bytes(message))
                    self.fast_accepted += 1
                    return True
                except InvalidSignature:
                    pass
        self.fallback_checked += 1
        ok = verify(public_key, message, signature)
        if ok:
            self.fallback_accepted += 1
        return ok
