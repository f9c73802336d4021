"""vra_lasair: the Lasair annotator. It consumes a Lasair filter's Kafka topic, scores each alert
with the VRA and ORACLE (``vra_filters``, history from the packet) and pushes the results back
as Lasair annotations (``vra lasair run``).

Data flows one way::

    Kafka message -> vra.read(bytes) -> vra.Stream (history="packet") -> payload (Lasair's
    field limits) -> SQLite outbox (newest per object) -> offsets committed -> annotate_list

The modules: :mod:`.config` (TOML + environment; the token from ``LASAIR_TOKEN`` only),
:mod:`.payload` (an Annotation as one ``annotate_list`` item), :mod:`.outbox` (the durable
queue and the shared rate budget), :mod:`.ratelimit` (token bucket maths), :mod:`.sender`
(the calls to Lasair, retries and backoff), :mod:`.source` (Kafka), :mod:`.runner` (the loop
and its health line), :mod:`.cli`.

Broker libraries (confluent-kafka, lasair) are imported inside the functions that use them, so
``vra --help`` works without the ``lasair`` extra.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
