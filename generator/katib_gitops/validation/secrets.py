"""Does an env var hold a secret? detect-secrets' patterns, not a hand-kept list.

Names: detect-secrets' keyword denylist (``detect_secrets.plugins.keyword.DENYLIST``:
api_key, secret, password, private_key, db_pass, ...) over the name in
snake_case, so ``awsSecretAccessKey``, ``secretKey``, ``PRIVATEKEY``, ``DB_PASS``
and ``API_KEYS`` are all caught. Its list has no ``token`` or ``credential``,
which name most ML-platform secrets (HF_TOKEN, WANDB_KEY): those few words
are our own addition (rule ``secret-env`` either way).

Values: every regex-based detector detect-secrets ships (AWS, GitHub, GitLab,
Slack, Stripe, OpenAI, JWT, private keys, basic-auth URLs, ...), whatever the
variable is called. The entropy detectors (any hash or digest would trip them)
and the public-IP detector (not a secret) are left out.

detect-secrets is imported on first use: only documents with a literal env
value pay for it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

# Our additions to detect-secrets' denylist (whole words of the name).
EXTRA_WORDS = frozenset({"TOKEN", "TOKENS", "KEY", "APIKEY", "CREDENTIAL", "CREDENTIALS", "CREDS"})
# Names that contain a secret word but hold no secret: where one is, or what it is called.
NOT_SECRET = re.compile(r"(.*_)?(KEY_ID|KEY_NAME|KEY_PATH|KEY_FILE|SECRET_NAME|SECRET_REF|TOKEN_PATH|TOKEN_FILE|"
                        r"PASSWORD_FILE|SECRET_FILE|SECRET_PATH|SECRETS_DIR|KEY_DIR)|(OLD)?PWD")
_SKIPPED_DETECTORS = ("KeywordDetector", "Base64HighEntropyString", "HexHighEntropyString", "IPPublicDetector")


def snake(name: str) -> str:
    """awsSecretAccessKey -> aws_secret_access_key; API-KEYS -> api_keys."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return re.sub(r"[^A-Za-z0-9]+", "_", spaced).lower()


@lru_cache(maxsize=1)
def _denylist() -> re.Pattern[str]:
    from detect_secrets.plugins.keyword import DENYLIST

    return re.compile("|".join(DENYLIST))


@lru_cache(maxsize=1)
def _detectors() -> tuple[Any, ...]:
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    classes = get_mapping_from_secret_type_to_class().values()
    return tuple(cls() for cls in sorted(classes, key=lambda c: c.__name__) if cls.__name__ not in _SKIPPED_DETECTORS)


def secret_name(name: str) -> bool:
    upper = name.upper()
    if NOT_SECRET.fullmatch(upper):
        return False
    words = snake(name).upper().split("_")
    if any(w in EXTRA_WORDS for w in words) or upper.endswith(("APIKEY", "TOKEN")):
        return True
    return _denylist().search(snake(name)) is not None


def secret_value(value: str) -> str | None:
    """The kind of secret value looks like (detect-secrets' secret_type), or None."""
    if len(value) < 8 or "${" in value:
        return None  # too short for any token; placeholders are filled in by Katib
    for detector in _detectors():
        try:
            if any(True for _ in detector.analyze_string(value)):
                return str(detector.secret_type)
        except Exception:  # noqa: BLE001 - a third-party detector must never crash validation
            continue
    return None
