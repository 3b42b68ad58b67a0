"""Version 1 object headers: the list of messages (type, flags, bytes) that describe one object.

Messages may continue in further blocks (continuation messages); every block is bounds-checked, not
empty, claimed once in the whole file (a block shared by two headers would be read once per header),
and the message count must add up to the header's own count.
"""
from __future__ import annotations

import struct
from typing import NamedTuple

from .errors import Unsupported
from .file_bytes import FileBytes

CONTINUATION = 0x10
NIL = 0x0
#: Messages in one object header at most (Keras objects have a handful).
MAX_MESSAGES = 4096
_MESSAGE_HEAD = struct.Struct("<HHB3x")
_CONSTANT = 0x01  # the only message flag h5py sets in Keras files


class Message(NamedTuple):
    type: int
    flags: int
    data: bytes


class ObjectHeader(NamedTuple):
    refcount: int
    messages: list[Message]


def read_object_header(data: FileBytes, address: int, end: int) -> ObjectHeader:
    """The messages of the version 1 object header at ``address`` (continuations followed)."""
    if address + 16 > end:
        raise Unsupported("object header address")
    data.claim(address)
    head = data.get(address, 16)
    version, count, refcount, size = head[0], *struct.unpack_from("<HII", head, 2)
    if version != 1 or head[1] != 0:
        raise Unsupported("object header version")
    if count > MAX_MESSAGES:
        raise Unsupported("too many messages")
    messages: list[Message] = []
    blocks = [(address + 16, size)]
    while blocks:
        start, length = blocks.pop(0)
        if start + length > end or length % 8 or not length:  # no file HDF5 writes has an empty block
            raise Unsupported("object header block")
        data.claim(start)
        block = data.get(start, length)
        pos = 0
        while pos < length:
            if pos + 8 > length:
                raise Unsupported("message header past its block")
            kind, msg_size, flags = _MESSAGE_HEAD.unpack_from(block, pos)
            pos += 8
            if msg_size % 8 or pos + msg_size > length:
                raise Unsupported("message size")
            body = block[pos:pos + msg_size]
            pos += msg_size
            if flags & ~_CONSTANT:  # shared messages, unknown-message markers, combinations HDF5 refuses
                raise Unsupported("message flags")
            messages.append(Message(kind, flags, body))
            if len(messages) > count:
                raise Unsupported("more messages than declared")
            if kind == CONTINUATION:
                if msg_size < 16:
                    raise Unsupported("continuation size")
                blocks.append(struct.unpack_from("<QQ", body))
    if len(messages) != count:
        raise Unsupported("fewer messages than declared")
    return ObjectHeader(refcount, messages)
