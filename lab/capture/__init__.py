"""Packet capture and annotation: see every segment of the chat, explained.

Public API (stable; the UDP experiment and the notebooks use it)::

    from lab.capture import Sniffer, read_pcap, write_pcap, annotate, to_json

    with Sniffer(iface="lo", port=5050, netns=None) as sniffer:   # start() .. stop()
        ...                                                       # make traffic
    segments = sniffer.segments          # decoded TCP/UDP segments, each packet once
    sniffer.drops                        # Drops(kernel=..., queue=...)
    annotated = annotate(segments)       # list[Annotated]; .to_dict(), to_json()
    annotate(read_pcap("capture.pcap"))  # pcap or pcapng, any link layer

The modules, one job each: ``sniffer`` (live capture), ``files`` (pcap and
pcapng), ``decode`` (IP/TCP/UDP headers), ``analysis`` (Wireshark's rules),
``recovery`` (why a segment was re-sent), ``chatlines`` (what the chat
says), ``explain`` (the English), ``annotate`` (joins them), ``render``
(tables and ladders) and ``graphs`` (time-sequence, throughput, RTT).

Only the standard library is imported here; scapy is imported when a live
capture starts or a file is read.
"""

from lab.capture.analysis import Stream
from lab.capture.annotate import Annotated, Annotator, annotate, annotate_with_streams, to_json
from lab.capture.decode import Segment, flag_letters
from lab.capture.files import RawFrame, read_frames, read_pcap, write_pcap


def __getattr__(name):
    # The sniffer imports scapy lazily; keep `import lab.capture` light.
    if name in ("Sniffer", "CaptureError", "CapturePermissionError", "Drops", "capture_problem", "GRANT_HINT"):
        from lab.capture import sniffer
        return getattr(sniffer, name)
    raise AttributeError(name)


__all__ = ["Annotated", "Annotator", "Stream", "Segment", "RawFrame", "annotate", "annotate_with_streams",
           "to_json", "flag_letters", "read_frames", "read_pcap", "write_pcap", "Sniffer", "CaptureError",
           "CapturePermissionError", "Drops", "capture_problem", "GRANT_HINT"]
