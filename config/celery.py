import os

from celery import Celery, signals
from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

from config.ops.celery_signals import use_django_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


# --- Redis broker transport: survive a broker restart with unacknowledged messages in hand ---
#
# Issue 9.1: with celery 5.7.0 + kombu 5.7.0 (the newest releases; no release fixes it) a worker
# holding reserved tasks (countdown/ETA, or running with acks_late) exits with
# `Unrecoverable error: AttributeError("'NoneType' object has no attribute 'hostname'")` when Redis
# restarts. The sequence, traced in tests/test_fault_tolerance.py
# (test_a_worker_holding_countdown_refreshes_survives_a_broker_restart):
#
# 1. The consumer sees ConnectionError and runs Consumer.on_connection_error_after_connected(), which
#    in celery 5.7.0 (celery/celery#10242, for celery/celery#9705) calls connection.collect() and
#    then, new in 5.7.0, connection.close().
# 2. collect() closes the default channel. kombu's redis Channel.close() first drains the pending
#    BRPOP reply (`_brpop_read()`); with Redis gone that raises ConnectionError, which
#    Connection.maybe_close_channel() swallows -- leaving the channel half closed: not marked
#    closed, its unacked messages not restored. collect() then detaches the transport
#    (`transport.client = None`).
# 3. close() closes that same channel again. Now the full close runs: virtual Channel.close() ->
#    QoS.restore_unacked_once() logs "Restoring N unacknowledged message(s)" and asks for a Redis
#    client, whose connection parameters come from `transport.client.hostname` -- None since step 2.
#    AttributeError is not a connection error, so ignore_errors() re-raises it and the worker dies.
#    An idle worker has nothing to restore and never reaches the client: it survives (as reported).
#    Same family as celery/kombu#970 and celery/kombu#582 (restore/close after the connection's
#    transport was detached).
#
# The fix, in the channel where the bug lives:
# - close() treats a BRPOP reply lost with its connection as "nothing to deliver" and goes on
#   closing, so the first close completes (restore is attempted while the transport is still
#   attached: it succeeds if Redis is already back, else fails with a connection error that is
#   ignored) and the second close is a no-op;
# - a channel whose transport was detached raises redis ConnectionError (a recoverable connection
#   error) instead of AttributeError wherever it needs a client again (any later ack or restore
#   through the old channel), which the callers already ignore or log.
# No release fixes it: celery 5.7.0 and kombu 5.7.0 are the newest; celery 5.6.3 does not call
# close() there but leaves the channel half closed the same way (not tried here). No setting avoids
# it: the crash needs only a worker waiting in BRPOP with unacked messages when the connection drops.
# Unacknowledged messages that could not be restored stay in Redis's `unacked` hash (restored after
# the visibility timeout) if Redis kept its data; if it restarted empty they are gone with it, and
# the PendingRefresh outbox sweep (beat, reputation.sweep_pending_refreshes) re-queues their
# refreshes. settings.py selects this transport for redis:// broker URLs (CELERY_BROKER_TRANSPORT).


class RedisChannel(kombu_redis.Channel):
    def close(self):
        if self._in_poll and not self.closed:
            try:
                self._brpop_read()
            except kombu_redis.Empty:
                pass
            except self.connection_errors:
                # The pending BRPOP reply died with the connection: nothing to deliver. _brpop_read()
                # already disconnected the client and cleared _in_poll; finish closing below.
                pass
        super().close()

    def _connparams(self, asynchronous=False):
        transport = self.connection
        if transport is None or transport.client is None:
            raise RedisConnectionError("the broker connection of this channel was closed")
        return super()._connparams(asynchronous=asynchronous)


class RedisTransport(kombu_redis.Transport):
    Channel = RedisChannel


app = Celery("merit")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# The worker logs through settings.LOGGING (JSON lines with request ids), not in Celery's own format.
signals.setup_logging.connect(use_django_logging)
