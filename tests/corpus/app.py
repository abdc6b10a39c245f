"""The app the traceback corpus is made from (written out by gen_corpus.py).

Each entry of ``APP_FILES`` is a path under the app directory and its
source. The code must run on CPython 2.7 and 3.6 to 3.13, so the shared
modules use neither f-strings nor other newer syntax; what needs newer
Python lives in modules that only newer interpreters import.
"""

from __future__ import annotations

COMMON = '''\
# -*- coding: utf-8 -*-
"""Scenarios every interpreter can run (2.7 and 3.x syntax)."""
import json
import sys

from shop import errors


def parse_quantity(raw):
    return int(raw)


def value_error():
    return parse_quantity("zwölf stück")


def key_error():
    stock = {"SKU-1": 3}
    return stock["SKU-404"]


def attribute_on_none():
    customer = None
    return customer.email.lower()


def zero_division():
    orders = []
    return sum(o for o in orders) / len(orders)


def assertion_bare():
    total = -5
    assert total >= 0


def not_implemented():
    raise NotImplementedError


def multiline_message():
    raise ValueError("2 validation errors for Order\\ncustomer_id"
                     "\\n  must be an integer\\nquantity\\n  must be greater than 0")


def str_fails():
    raise errors.BadRender({"id": 88})


def custom_qualified():
    raise errors.PaymentDeclined("card declined by issuer for order 4711")


def empty_message_custom():
    raise errors.PaymentDeclined()


def non_ascii():
    from envios import validar_cp
    return validar_cp("DE", "12 345")


def recursion():
    sys.setrecursionlimit(80)
    return _path_to_root("cat-1")


def _path_to_root(category):
    return _path_to_root(category) + [category]


def lazy_syntax_error():
    from shop import broken  # noqa
    return broken


def eval_syntax_error():
    return eval("price * (1 + tax", {}, {"price": 1.0, "tax": 0.19})


def indentation_error():
    return compile("if ready:\\nsend()\\n", "<rules>", "exec")


def no_source_frames():
    code = compile("def generated():\\n    raise KeyError('generated')\\n"
                   "generated()\\n", "<generated>", "exec")
    exec(code, {})


def stdlib_frames():
    return json.loads('{"items": [1, 2,, 3]}')


def long_message():
    raise RuntimeError("upstream said: " + "x" * 3000 + " (end)")


def mutual_a(n):
    return mutual_b(n + 1)


def mutual_b(n):
    if n > 12:
        raise OverflowError("mutual recursion at depth %d" % n)
    return mutual_a(n + 1)


def mutual_recursion():
    return mutual_a(0)


SCENARIOS = [
    value_error, key_error, attribute_on_none, zero_division, assertion_bare,
    not_implemented, multiline_message, str_fails, custom_qualified,
    empty_message_custom, non_ascii, recursion, lazy_syntax_error,
    eval_syntax_error, indentation_error, no_source_frames, stdlib_frames,
    long_message, mutual_recursion,
]
'''

MODERN = '''\
"""Scenarios that need Python 3 (chains) and 3.6 syntax."""
import json

from shop import errors


def _charge(order_id):
    raise ConnectionRefusedError(111, "Connection refused")


def _gateway(order_id):
    try:
        _charge(order_id)
    except OSError as exc:
        message = "gateway unreachable for order %s" % order_id
        raise errors.GatewayError(message) from exc


def cause_chain():
    try:
        _gateway(4711)
    except errors.GatewayError:
        json.loads("not json")


def context_chain():
    cache = {}
    try:
        return cache["s-42"]
    except KeyError:
        raise RuntimeError


def from_none():
    try:
        return {}["SKU-9"]
    except KeyError:
        raise LookupError("unknown SKU 'SKU-9'") from None


def cause_never_raised():
    raise errors.PaymentDeclined("card declined by issuer") from ValueError(
        "card expired 03/24")


def three_level_chain():
    try:
        try:
            int("x")
        except ValueError as exc:
            raise KeyError("retry-key") from exc
    except KeyError:
        raise errors.GatewayError("giving up after 3 attempts")


def multiline_statement():
    settings = {"currency": "EUR"}
    report = _build_report(
        [1, 2],
        currency=settings["currency"],
        tz=settings.get("timezone"),
    )
    return report


def _build_report(orders, currency, tz):
    return [_fmt(o, currency, tz) for o in orders]


def _fmt(amount, currency, tz):
    return "%s %s (%s)" % (amount, currency, tz.upper())


def carets():
    catalog = {"SKU-1": None}
    qty = 2
    return catalog["SKU-1"]["price"] * qty


def suggestion_attribute():
    class Order:
        total = 9.99
    return Order().totl


def suggestion_name():
    shipping_total = 4
    return shiping_total + 1  # noqa: F821


def _total(*amounts):
    raise ArithmeticError("cannot total %d amounts" % len(amounts))


def long_call():
    return _total(
        1,
        2,
        3,
        4,
        5,
        6,
        7,
    )


def multiline_binop():
    prices = {"a": 4}
    return (
        prices["a"]
        /
        (prices["a"] - 4)
    )


def locals_type():
    class LocalError(Exception):
        pass
    raise LocalError("defined inside a function")


SCENARIOS = [
    cause_chain, context_chain, from_none, cause_never_raised,
    three_level_chain, multiline_statement, carets, suggestion_attribute,
    suggestion_name, locals_type, long_call, multiline_binop,
]
'''

GROUPS = '''\
"""Scenarios that need Python 3.11: notes and exception groups."""
import asyncio

from shop import errors


def notes():
    try:
        float("€129")
    except ValueError as exc:
        exc.add_note("feed row 3: {'sku': 'SKU-1002', 'price': '€129'}")
        exc.add_note("hint: prices must use a decimal point")
        raise


async def _fetch(warehouse):
    await asyncio.sleep(0)
    if warehouse == "ams-2":
        raise errors.WarehouseTimeout("warehouse %s did not answer" % warehouse)
    return {"SKU-1": "twelve"}["SKU-2"]


async def _refresh(warehouses):
    async with asyncio.TaskGroup() as group:
        for warehouse in warehouses:
            group.create_task(_fetch(warehouse))


def task_group():
    asyncio.run(_refresh(["ams-2", "ber-1"]))


def _validate(row):
    if "sku" not in row:
        raise errors.RowError("row %d: missing sku" % row["n"])
    if int(row["qty"]) < 0:
        raise errors.RowError("row %d: negative quantity" % row["n"])


def _validate_warehouse(name, rows):
    problems = []
    for row in rows:
        try:
            _validate(row)
        except (errors.RowError, ValueError) as exc:
            problems.append(exc)
    if problems:
        raise ExceptionGroup("warehouse %s: %d invalid rows" % (name, len(problems)),
                             problems)


def nested_groups():
    problems = []
    batches = {"ams-2": [{"n": 1, "qty": "zwölf", "sku": "A"}],
               "ber-1": [{"n": 2, "qty": "1"}, {"n": 5, "qty": "-3", "sku": "B"}]}
    for name, rows in batches.items():
        try:
            _validate_warehouse(name, rows)
        except ExceptionGroup as group:
            problems.append(group)
    raise ExceptionGroup("bulk import rejected", problems)


def wide_group():
    problems = []
    for n in range(18):
        try:
            raise errors.RowError("row %d rejected" % n)
        except errors.RowError as exc:
            problems.append(exc)
    raise ExceptionGroup("too many bad rows", problems)


def group_with_chains():
    problems = []
    try:
        try:
            {}["k"]
        except KeyError as exc:
            raise errors.RowError("row 7: lookup failed") from exc
    except errors.RowError as exc:
        problems.append(exc)
    try:
        try:
            int("x")
        except ValueError:
            raise errors.RowError("row 8: bad number")
    except errors.RowError as exc:
        problems.append(exc)
    raise ExceptionGroup("import failed", problems)


def group_as_cause():
    try:
        raise ExceptionGroup("probes failed", [TimeoutError("probe a"),
                                              ConnectionError("probe b")])
    except ExceptionGroup as group:
        raise errors.GatewayError("no healthy backend") from group


def group_never_raised():
    eg = ExceptionGroup("queued failures", [ValueError("v"), KeyError("k")])
    raise errors.GatewayError("flush failed") from eg


SCENARIOS = [
    notes, task_group, nested_groups, wide_group, group_with_chains,
    group_as_cause, group_never_raised,
]
'''

ERRORS = '''\
"""Exception types of the corpus app (module-qualified when printed)."""


class PaymentDeclined(Exception):
    pass


class GatewayError(Exception):
    pass


class WarehouseTimeout(Exception):
    pass


class RowError(Exception):
    pass


class BadRender(Exception):
    def __str__(self):
        raise RuntimeError("cannot render")
'''

BROKEN = """\
import logging

def export(month):
    logging.info("exporting orders for %s" month)
"""

ENVIOS = '''\
# -*- coding: utf-8 -*-
"""A module in a directory with a non-ASCII name."""


def validar_cp(pais, codigo_postal):
    raise ValueError("Ungültige Postleitzahl: «%s» für %s" % (codigo_postal, pais))
'''

APP_FILES = {
    "shop/__init__.py": "",
    "shop/errors.py": ERRORS,
    "shop/common.py": COMMON,
    "shop/modern.py": MODERN,
    "shop/groups.py": GROUPS,
    "shop/broken.py": BROKEN,
    "módulos/envios.py": ENVIOS,
}
