"""Helpers to serve gRPC methods without generated servicer classes.

The client packages ship message classes but no servicers, so the emulator
registers generic handlers whose (de)serialisers are the message classes'
own. Every handler goes through the fault switches first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc

from deployconsole.emulator.faults import Faults

UnaryFn = Callable[[Any, grpc.ServicerContext], Any]
StreamFn = Callable[[Iterator[Any], grpc.ServicerContext], Iterator[Any]]


def _codec(message_cls: Any) -> tuple[Callable[[bytes], Any], Callable[[Any], bytes]]:
    """Deserialiser and serialiser for a proto-plus or a raw protobuf class."""
    if hasattr(message_cls, "FromString"):
        return message_cls.FromString, lambda msg: msg.SerializeToString()
    return message_cls.deserialize, message_cls.serialize


def unary(
    faults: Faults, method: str, request_cls: Any, response_cls: Any, fn: UnaryFn
) -> grpc.RpcMethodHandler:
    deserialize, _ = _codec(request_cls)
    _, serialize = _codec(response_cls)

    def handler(request: Any, context: grpc.ServicerContext) -> Any:
        faults.before_call(method, context)
        return fn(request, context)

    return grpc.unary_unary_rpc_method_handler(
        handler, request_deserializer=deserialize, response_serializer=serialize
    )


def stream_stream(
    faults: Faults, method: str, request_cls: Any, response_cls: Any, fn: StreamFn
) -> grpc.RpcMethodHandler:
    deserialize, _ = _codec(request_cls)
    _, serialize = _codec(response_cls)

    def handler(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
        faults.before_call(method, context)
        yield from fn(requests, context)

    return grpc.stream_stream_rpc_method_handler(
        handler, request_deserializer=deserialize, response_serializer=serialize
    )


def service(
    name: str, methods: dict[str, grpc.RpcMethodHandler]
) -> grpc.GenericRpcHandler:
    """``name`` is the full service name, e.g. ``google.appengine.v1.Services``."""
    return grpc.method_handlers_generic_handler(name, methods)
