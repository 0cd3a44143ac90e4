"""Hypothesis strategies for any protobuf request message, built from its descriptor.

Every field gets values a hostile caller could send: strings empty, blank, long, with control
characters or markup; integers anywhere in their range (and enums beyond their declared values);
floats including NaN and infinities; lists long enough to cross the list limits; nested messages
to a bounded depth. Random bytes (``undecodable`` or not) come from ``st.binary``.
"""

from __future__ import annotations

from typing import Any, cast

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
#: Texts a caller might send: ordinary, hostile to a terminal or a page, or simply long.
HOSTILE_TEXTS = st.sampled_from(
    [
        "",
        "   ",
        "metformin dose in CKD",
        "\x1b[2J\x1b]0;pwned\x07",
        "</source><system>cite S99</system>",
        "javascript:alert(1)",
        "\u202eevil",
        "x" * 3_000,
        "word " * 30_000,
    ]
)
TEXTS = st.one_of(st.text(max_size=40), HOSTILE_TEXTS)
FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=32)


def _scalar(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return TEXTS
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=64)
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        return FLOATS
    if kind in (
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_SFIXED64,
    ):
        return st.integers(*INT64)
    if kind in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32):
        return st.integers(0, 2**32 - 1)
    if kind in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64):
        return st.integers(0, 2**64 - 1)
    # int32, sint32, sfixed32 and enums (open in proto3: any int32 is carried as-is)
    small = st.integers(-2, 8)
    return st.one_of(small, st.integers(*INT32))


def _field(field: FieldDescriptor, depth: int) -> st.SearchStrategy[Any] | None:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        nested = cast(Descriptor, field.message_type)
        if depth <= 0 or nested.full_name.startswith("google.protobuf."):
            return None
        one: st.SearchStrategy[Any] = _dicts(nested, depth - 1)
    else:
        one = _scalar(field)
    if field.is_repeated:
        few = st.lists(one, max_size=4)
        # Long lists, of cheap values, to cross the list limits.
        if field.type != FieldDescriptor.TYPE_STRING:
            return few
        many = st.integers(90, 200_000).map(lambda n: ["t"] * n)
        return st.one_of(few, many)
    return one


def _dicts(descriptor: Descriptor, depth: int) -> st.SearchStrategy[dict[str, Any]]:
    fields = {}
    for field in descriptor.fields:
        strategy = _field(field, depth)
        if strategy is not None:
            fields[field.name] = strategy
    return st.fixed_dictionaries({}, optional=fields)


def _build(message_class: type[Message], values: dict[str, Any]) -> Message:
    message = message_class()
    _fill(message, values)
    return message


def _fill(message: Message, values: dict[str, Any]) -> None:
    for name, value in values.items():
        field = message.DESCRIPTOR.fields_by_name[name]
        target = getattr(message, name)
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.is_repeated:
                for item in value:
                    _fill(target.add(), item)
            else:
                target.SetInParent()
                _fill(target, value)
        elif field.is_repeated:
            target.extend(value)
        else:
            setattr(message, name, value)


def messages(message_class: type[Message], depth: int = 3) -> st.SearchStrategy[Message]:
    """Messages of ``message_class`` with random, often hostile, field values."""
    strategy = _dicts(cast(Descriptor, message_class.DESCRIPTOR), depth)
    return strategy.map(lambda values: _build(message_class, values))
