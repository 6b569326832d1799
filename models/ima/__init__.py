"""Linux IMA measurement lists: formats, replay per PCR bank, boot_aggregate, verifier.

Facts and sources: ../shared/notes/ima.md (kernel ``security/integrity/ima``,
ima-evm-utils, keylime).  Pure: parsers take bytes, nothing reads files.
"""

from models.ima.ascii_list import parse_ascii, serialize_ascii
from models.ima.banks import BANK_DIGEST_SIZE, bank_name
from models.ima.binary_list import iter_binary, parse_binary, serialize_binary
from models.ima.boot_aggregate import BOOT_AGGREGATE_NAME, boot_aggregate, boot_aggregate_bank
from models.ima.entry import ImaEntry
from models.ima.errors import ImaLogError
from models.ima.measure import measure, violation
from models.ima.replay import (
    EXTEND_MODELS,
    IMA_PCR,
    LEGACY_PADDED_SHA1,
    PADDED_SHA1,
    PER_BANK,
    extend_digests,
    hash_input,
    pcr_values,
    replay,
    template_hash,
)
from models.ima.templates import TEMPLATE_FIELDS, digest_field, join_fields, name_field, split_fields
from models.ima.single_pass import verify_binary
from models.ima.verifier import StartMode, Verdict, verify, verify_split

__all__ = [
    "BANK_DIGEST_SIZE", "BOOT_AGGREGATE_NAME", "EXTEND_MODELS", "IMA_PCR", "LEGACY_PADDED_SHA1", "PADDED_SHA1", "PER_BANK",
    "TEMPLATE_FIELDS", "ImaEntry", "ImaLogError", "StartMode", "Verdict", "bank_name", "boot_aggregate",
    "boot_aggregate_bank", "digest_field", "extend_digests", "hash_input", "iter_binary", "join_fields", "measure",
    "name_field", "parse_ascii", "parse_binary", "pcr_values", "replay", "serialize_ascii",
    "serialize_binary", "split_fields", "template_hash", "verify", "verify_binary", "verify_split", "violation",
]
