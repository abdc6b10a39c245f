"""Traceback texts the emulated apps log, as real interpreters printed them.

Each text was printed by actually running a small App Engine-shaped app:
python27 ones under CPython 2.7.18 with webapp2 2.5.2, logged through
``logging.exception`` as the python27 runtime does; python3 ones under
CPython 3.11.7 with Flask 3.1 and gunicorn 27 (gthread worker). Only the
paths were rewritten to where App Engine puts things (python27:
``/base/data/home/apps/s~PROJECT/VERSION.DEPLOYMENT/...`` and the runtime's
``/base/alloc/tmpfs/dynamic_runtimes/...``; python3: ``/workspace/...`` and
``/layers/google.python.pip/pip/lib/python3.11/site-packages/...``), and the
per-occurrence values (times, pids, the python27 app directory) became
``{placeholders}`` that :func:`render` fills in.
"""

# The texts are verbatim interpreter output; their long lines are the data.
# ruff: noqa: E501

from __future__ import annotations


def render(template: str, **values: str) -> str:
    """Fill ``{name}`` placeholders; other braces in the text stay as they are."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template

# python27: loading main.app fails (logged by the runtime with an empty message).
PY27_IMPORT_FAILURE = """\

Traceback (most recent call last):
  File "/base/alloc/tmpfs/dynamic_runtimes/python27g/python27/python27_lib/versions/1/google/appengine/runtime/wsgi.py", line 240, in Handle
    handler = _config_handle.add_wsgi_middleware(self._LoadHandler())
  File "/base/alloc/tmpfs/dynamic_runtimes/python27g/python27/python27_lib/versions/1/google/appengine/runtime/wsgi.py", line 311, in _LoadHandler
    handler, path, err = LoadObject(self._handler)
  File "/base/alloc/tmpfs/dynamic_runtimes/python27g/python27/python27_lib/versions/1/google/appengine/runtime/wsgi.py", line 85, in LoadObject
    obj = __import__(path[0])
  File "{app_root}/main.py", line 3, in <module>
    from handlers import cart, exports, orders, reports
  File "{app_root}/handlers/exports.py", line 5, in <module>
    from google.cloud import storage
  File "{app_root}/lib/google/cloud/storage/__init__.py", line 3, in <module>
    from google.cloud.storage.batch import Batch
  File "{app_root}/lib/google/cloud/storage/batch.py", line 11, in <module>
    from google.cloud import _helpers
  File "{app_root}/lib/google/cloud/_helpers.py", line 11, in <module>
    from google.api_core import datetime_helpers
  File "{app_root}/lib/google/api_core/__init__.py", line 23, in <module>
    __version__ = get_distribution("google-api-core").version
  File "{app_root}/lib/pkg_resources/__init__.py", line 481, in get_distribution
    dist = get_provider(dist)
  File "{app_root}/lib/pkg_resources/__init__.py", line 357, in get_provider
    return working_set.find(moduleOrReq) or require(str(moduleOrReq))[0]
  File "{app_root}/lib/pkg_resources/__init__.py", line 900, in require
    needed = self.resolve(parse_requirements(requirements))
  File "{app_root}/lib/pkg_resources/__init__.py", line 786, in resolve
    raise DistributionNotFound(req, requirers)
DistributionNotFound: The 'google-api-core' distribution was not found and is required by the application"""

# python27: a KeyError in a webapp2 handler (webapp2 logs str(e) first).
PY27_KEY_ERROR = """\
u'sku-7731'
Traceback (most recent call last):
  File "/base/alloc/tmpfs/dynamic_runtimes/python27g/python27/python27_lib/versions/third_party/webapp2-2.5.2/webapp2.py", line 1535, in __call__
    rv = self.handle_exception(request, response, e)
  File "/base/alloc/tmpfs/dynamic_runtimes/python27g/python27/python27_lib/versions/third_party/webapp2-2.5.2/webapp2.py", line 1529, in __call__
    rv = self.router.dispatch(request, response)
  File "/base/alloc/tmpfs/dynamic_runtimes/python27g/python27/python27_lib/versions/third_party/webapp2-2.5.2/webapp2.py", line 1278, in default_dispatcher
    return route.handler_adapter(request, response)
  File "/base/alloc/tmpfs/dynamic_runtimes/python27g/python27/python27_lib/versions/third_party/webapp2-2.5.2/webapp2.py", line 1102, in __call__
    return handler.dispatch()
  File "/base/alloc/tmpfs/dynamic_runtimes/python27g/python27/python27_lib/versions/third_party/webapp2-2.5.2/webapp2.py", line 572, in dispatch
    return self.handle_exception(e, self.app.debug)
  File "/base/alloc/tmpfs/dynamic_runtimes/python27g/python27/python27_lib/versions/third_party/webapp2-2.5.2/webapp2.py", line 570, in dispatch
    return method(*args, **kwargs)
  File "{app_root}/handlers/cart.py", line 12, in get
    total = cart_total(self.request.get_all('sku'))
  File "{app_root}/handlers/cart.py", line 7, in cart_total
    return sum(PRICES[sku] for sku in skus)
  File "{app_root}/handlers/cart.py", line 7, in <genexpr>
    return sum(PRICES[sku] for sku in skus)
KeyError: u'sku-7731'"""

# python27: the database is locked while a handler writes.
PY27_DB_ERROR = """\
database is locked
Traceback (most recent call last):
  File "/base/alloc/tmpfs/dynamic_runtimes/python27g/python27/python27_lib/versions/third_party/webapp2-2.5.2/webapp2.py", line 1535, in __call__
    rv = self.handle_exception(request, response, e)
  File "/base/alloc/tmpfs/dynamic_runtimes/python27g/python27/python27_lib/versions/third_party/webapp2-2.5.2/webapp2.py", line 1529, in __call__
    rv = self.router.dispatch(request, response)
  File "/base/alloc/tmpfs/dynamic_runtimes/python27g/python27/python27_lib/versions/third_party/webapp2-2.5.2/webapp2.py", line 1278, in default_dispatcher
    return route.handler_adapter(request, response)
  File "/base/alloc/tmpfs/dynamic_runtimes/python27g/python27/python27_lib/versions/third_party/webapp2-2.5.2/webapp2.py", line 1102, in __call__
    return handler.dispatch()
  File "/base/alloc/tmpfs/dynamic_runtimes/python27g/python27/python27_lib/versions/third_party/webapp2-2.5.2/webapp2.py", line 572, in dispatch
    return self.handle_exception(e, self.app.debug)
  File "/base/alloc/tmpfs/dynamic_runtimes/python27g/python27/python27_lib/versions/third_party/webapp2-2.5.2/webapp2.py", line 570, in dispatch
    return method(*args, **kwargs)
  File "{app_root}/handlers/orders.py", line 8, in post
    paid = order.mark_paid(self.request.get('id'))
  File "{app_root}/models/order.py", line 9, in mark_paid
    conn.execute("UPDATE orders SET state = 'paid' WHERE id = ?", (order_id,))
OperationalError: database is locked"""

# python27: the request's 60 s deadline struck inside a loop.
PY27_TIMEOUT = """\

Traceback (most recent call last):
  File "/base/alloc/tmpfs/dynamic_runtimes/python27g/python27/python27_lib/versions/1/google/appengine/runtime/wsgi.py", line 267, in Handle
    result = handler(self._environ, self._StartResponse)
  File "/base/alloc/tmpfs/dynamic_runtimes/python27g/python27/python27_lib/versions/third_party/webapp2-2.5.2/webapp2.py", line 1529, in __call__
    rv = self.router.dispatch(request, response)
  File "/base/alloc/tmpfs/dynamic_runtimes/python27g/python27/python27_lib/versions/third_party/webapp2-2.5.2/webapp2.py", line 1278, in default_dispatcher
    return route.handler_adapter(request, response)
  File "/base/alloc/tmpfs/dynamic_runtimes/python27g/python27/python27_lib/versions/third_party/webapp2-2.5.2/webapp2.py", line 1102, in __call__
    return handler.dispatch()
  File "/base/alloc/tmpfs/dynamic_runtimes/python27g/python27/python27_lib/versions/third_party/webapp2-2.5.2/webapp2.py", line 570, in dispatch
    return method(*args, **kwargs)
  File "{app_root}/handlers/reports.py", line 8, in get
    count = search_index.rebuild(xrange(10 ** 9))
  File "{app_root}/models/search_index.py", line 4, in rebuild
    count += _tokens(doc_id)
  File "{app_root}/models/search_index.py", line 8, in _tokens
    def _tokens(doc_id):
DeadlineExceededError"""

# python3: the gunicorn worker cannot import main.py.
PY3_IMPORT_FAILURE = """\
[{gunicorn_time}] [{pid}] [ERROR] Exception in worker process
Traceback (most recent call last):
  File "/layers/google.python.pip/pip/lib/python3.11/site-packages/gunicorn/arbiter.py", line 752, in spawn_worker
    worker.init_process()
  File "/layers/google.python.pip/pip/lib/python3.11/site-packages/gunicorn/workers/gthread.py", line 280, in init_process
    super().init_process()
  File "/layers/google.python.pip/pip/lib/python3.11/site-packages/gunicorn/workers/base.py", line 138, in init_process
    self.load_wsgi()
  File "/layers/google.python.pip/pip/lib/python3.11/site-packages/gunicorn/workers/base.py", line 150, in load_wsgi
    self.wsgi = self.app.wsgi()
                ^^^^^^^^^^^^^^^
  File "/layers/google.python.pip/pip/lib/python3.11/site-packages/gunicorn/app/base.py", line 67, in wsgi
    self.callable = self.load()
                    ^^^^^^^^^^^
  File "/layers/google.python.pip/pip/lib/python3.11/site-packages/gunicorn/app/wsgiapp.py", line 57, in load
    return self.load_wsgiapp()
           ^^^^^^^^^^^^^^^^^^^
  File "/layers/google.python.pip/pip/lib/python3.11/site-packages/gunicorn/app/wsgiapp.py", line 47, in load_wsgiapp
    return util.import_app(self.app_uri)
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/layers/google.python.pip/pip/lib/python3.11/site-packages/gunicorn/util.py", line 420, in import_app
    mod = importlib.import_module(module)
          ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/layers/google.python.runtime/python/lib/python3.11/importlib/__init__.py", line 126, in import_module
    return _bootstrap._gcd_import(name[level:], package, level)
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "<frozen importlib._bootstrap>", line 1204, in _gcd_import
  File "<frozen importlib._bootstrap>", line 1176, in _find_and_load
  File "<frozen importlib._bootstrap>", line 1147, in _find_and_load_unlocked
  File "<frozen importlib._bootstrap>", line 690, in _load_unlocked
  File "<frozen importlib._bootstrap_external>", line 940, in exec_module
  File "<frozen importlib._bootstrap>", line 241, in _call_with_frames_removed
  File "/workspace/main.py", line 5, in <module>
    from shop import cart, exports, orders, rates
  File "/workspace/shop/exports.py", line 4, in <module>
    from google.cloud import storage
  File "/layers/google.python.pip/pip/lib/python3.11/site-packages/google/cloud/storage/__init__.py", line 3, in <module>
    from google.cloud.storage.batch import Batch
  File "/layers/google.python.pip/pip/lib/python3.11/site-packages/google/cloud/storage/batch.py", line 11, in <module>
    from google.cloud import _helpers
  File "/layers/google.python.pip/pip/lib/python3.11/site-packages/google/cloud/_helpers.py", line 11, in <module>
    from google.api_core import datetime_helpers
  File "/layers/google.python.pip/pip/lib/python3.11/site-packages/google/api_core/__init__.py", line 23, in <module>
    __version__ = get_distribution("google-api-core").version
                  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/layers/google.python.pip/pip/lib/python3.11/site-packages/pkg_resources/__init__.py", line 478, in get_distribution
    dist = get_provider(dist)
           ^^^^^^^^^^^^^^^^^^
  File "/layers/google.python.pip/pip/lib/python3.11/site-packages/pkg_resources/__init__.py", line 354, in get_provider
    return working_set.find(moduleOrReq) or require(str(moduleOrReq))[0]
                                            ^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/layers/google.python.pip/pip/lib/python3.11/site-packages/pkg_resources/__init__.py", line 909, in require
    needed = self.resolve(parse_requirements(requirements))
             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/layers/google.python.pip/pip/lib/python3.11/site-packages/pkg_resources/__init__.py", line 795, in resolve
    raise DistributionNotFound(req, requirers)
pkg_resources.DistributionNotFound: The 'google-api-core' distribution was not found and is required by the application"""

# python3: the lines gunicorn prints after that boot failure, one per entry.
PY3_IMPORT_FAILURE_FOLLOWUPS = (
    "The 'google-api-core' distribution was not found and is required by the application",
    "[{gunicorn_time}] [{pid}] [INFO] Worker exiting (pid: {pid})",
    "[{gunicorn_time}] [{master_pid}] [ERROR] Worker (pid:{pid}) exited with code 3.",
    "[{gunicorn_time}] [{master_pid}] [ERROR] Shutting down: Master",
    "[{gunicorn_time}] [{master_pid}] [ERROR] Reason: Worker failed to boot.",
)

# python3: a KeyError in a Flask view, as Flask logs it.
PY3_KEY_ERROR = """\
[{asctime}] ERROR in app: Exception on /cart [GET]
Traceback (most recent call last):
  File "/layers/google.python.pip/pip/lib/python3.11/site-packages/flask/app.py", line 1511, in wsgi_app
    response = self.full_dispatch_request()
               ^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/layers/google.python.pip/pip/lib/python3.11/site-packages/flask/app.py", line 919, in full_dispatch_request
    rv = self.handle_user_exception(e)
         ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/layers/google.python.pip/pip/lib/python3.11/site-packages/flask/app.py", line 917, in full_dispatch_request
    rv = self.dispatch_request()
         ^^^^^^^^^^^^^^^^^^^^^^^
  File "/layers/google.python.pip/pip/lib/python3.11/site-packages/flask/app.py", line 902, in dispatch_request
    return self.ensure_sync(self.view_functions[rule.endpoint])(**view_args)  # type: ignore[no-any-return]
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/workspace/main.py", line 12, in show_cart
    return jsonify(total=cart.cart_total(request.args.getlist("sku")))
                         ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/workspace/shop/cart.py", line 5, in cart_total
    return sum(line_price(sku) for sku in skus)
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/workspace/shop/cart.py", line 5, in <genexpr>
    return sum(line_price(sku) for sku in skus)
               ^^^^^^^^^^^^^^^
  File "/workspace/shop/cart.py", line 9, in line_price
    return PRICES[sku]
           ~~~~~~^^^^^
KeyError: 'sku-7731'"""

# python3: a cache miss, then the database is locked ("During handling").
PY3_DB_ERROR = """\
[{asctime}] ERROR in app: Exception on /orders/o-5521/pay [POST]
Traceback (most recent call last):
  File "/workspace/shop/orders.py", line 10, in mark_paid
    order = _CACHE[order_id]
            ~~~~~~^^^^^^^^^^
KeyError: 'o-5521'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/layers/google.python.pip/pip/lib/python3.11/site-packages/flask/app.py", line 1511, in wsgi_app
    response = self.full_dispatch_request()
               ^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/layers/google.python.pip/pip/lib/python3.11/site-packages/flask/app.py", line 919, in full_dispatch_request
    rv = self.handle_user_exception(e)
         ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/layers/google.python.pip/pip/lib/python3.11/site-packages/flask/app.py", line 917, in full_dispatch_request
    rv = self.dispatch_request()
         ^^^^^^^^^^^^^^^^^^^^^^^
  File "/layers/google.python.pip/pip/lib/python3.11/site-packages/flask/app.py", line 902, in dispatch_request
    return self.ensure_sync(self.view_functions[rule.endpoint])(**view_args)  # type: ignore[no-any-return]
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/workspace/main.py", line 17, in pay_order
    return jsonify(orders.mark_paid(order_id))
                   ^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/workspace/shop/orders.py", line 12, in mark_paid
    order = _load_and_lock(order_id)
            ^^^^^^^^^^^^^^^^^^^^^^^^
  File "/workspace/shop/orders.py", line 19, in _load_and_lock
    conn.execute("UPDATE orders SET locked_by = ? WHERE id = ?", ("pay", order_id))
sqlite3.OperationalError: database is locked"""

# python3: an outbound call that timed out.
PY3_TIMEOUT = """\
[{asctime}] ERROR in app: Exception on /checkout/quote [GET]
Traceback (most recent call last):
  File "/layers/google.python.pip/pip/lib/python3.11/site-packages/flask/app.py", line 1511, in wsgi_app
    response = self.full_dispatch_request()
               ^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/layers/google.python.pip/pip/lib/python3.11/site-packages/flask/app.py", line 919, in full_dispatch_request
    rv = self.handle_user_exception(e)
         ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/layers/google.python.pip/pip/lib/python3.11/site-packages/flask/app.py", line 917, in full_dispatch_request
    rv = self.dispatch_request()
         ^^^^^^^^^^^^^^^^^^^^^^^
  File "/layers/google.python.pip/pip/lib/python3.11/site-packages/flask/app.py", line 902, in dispatch_request
    return self.ensure_sync(self.view_functions[rule.endpoint])(**view_args)  # type: ignore[no-any-return]
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/workspace/main.py", line 22, in quote
    return jsonify(rates.shipping_quote(request.args["zip"]))
                   ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/workspace/shop/rates.py", line 9, in shipping_quote
    with urllib.request.urlopen(f"{RATES_URL}?zip={zip_code}", timeout=2) as resp:
         ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/layers/google.python.runtime/python/lib/python3.11/urllib/request.py", line 216, in urlopen
    return opener.open(url, data, timeout)
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/layers/google.python.runtime/python/lib/python3.11/urllib/request.py", line 519, in open
    response = self._open(req, data)
               ^^^^^^^^^^^^^^^^^^^^^
  File "/layers/google.python.runtime/python/lib/python3.11/urllib/request.py", line 536, in _open
    result = self._call_chain(self.handle_open, protocol, protocol +
             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/layers/google.python.runtime/python/lib/python3.11/urllib/request.py", line 496, in _call_chain
    result = func(*args)
             ^^^^^^^^^^^
  File "/layers/google.python.runtime/python/lib/python3.11/urllib/request.py", line 1377, in http_open
    return self.do_open(http.client.HTTPConnection, req)
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/layers/google.python.runtime/python/lib/python3.11/urllib/request.py", line 1352, in do_open
    r = h.getresponse()
        ^^^^^^^^^^^^^^^
  File "/layers/google.python.runtime/python/lib/python3.11/http/client.py", line 1386, in getresponse
    response.begin()
  File "/layers/google.python.runtime/python/lib/python3.11/http/client.py", line 325, in begin
    version, status, reason = self._read_status()
                              ^^^^^^^^^^^^^^^^^^^
  File "/layers/google.python.runtime/python/lib/python3.11/http/client.py", line 286, in _read_status
    line = str(self.fp.readline(_MAXLINE + 1), "iso-8859-1")
               ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/layers/google.python.runtime/python/lib/python3.11/socket.py", line 706, in readinto
    return self._sock.recv_into(b)
           ^^^^^^^^^^^^^^^^^^^^^^^
TimeoutError: timed out"""
