"""What a compare result says, in sentences built from its own numbers (sans-I/O).

Used by ``chatlab compare`` under its table and by lesson 6: every claim is
computed from the result it describes (which row was faster, whether two
counts agree), so the words cannot contradict the numbers beside them.
"""

from __future__ import annotations


def explain_udp(results: dict) -> str:
    """Plain UDP against the arithmetic of two lossy crossings."""
    udp, share = results["udp"], results["expected_udp_delivery"]
    return (f"Each message crosses the lossy path twice (sender -> server's host -> receiver): UDP should "
            f"deliver about (1 - {results['loss'] / 100:g})^2 = {share:.0%}; it delivered "
            f"{udp['delivered']}/{udp['sent']}. UDP never resends, so what is lost stays lost.")


def explain_tcp(results: dict) -> str:
    """TCP: everything, in order, and what it cost."""
    tcp = results["tcp"]
    if "skipped" in tcp:
        return f"TCP: {tcp['skipped']}"
    text = (f"TCP delivered {tcp['delivered']}/{tcp['sent']} {'in order' if tcp.get('in_order') else 'NOT in order'}: "
            "every lost segment was sent again; a message behind a lost one waits for it (head-of-line blocking), "
            "and after a timeout the congestion window collapses and the timer backs off.")
    in_flight = tcp.get("in_flight")
    if in_flight:
        text += " " + explain_in_flight(in_flight, tcp["waited_s"])
    return text


def explain_in_flight(in_flight: dict, waited_s: float) -> str:
    """Why TCP had not delivered the last messages when the receiver stopped waiting, from TCP_INFO."""
    hop, timer = max(in_flight["hops"].items(), key=lambda item: item[1]["backoff"])
    return (f"The receiver stopped waiting after {waited_s:g} s with messages {in_flight['first']}-"
            f"{in_flight['first'] + in_flight['messages'] - 1} not yet delivered, and they were not lost: "
            f"the {hop} socket still held {timer['unacked']} unacknowledged segment(s), its retransmission "
            + (f"timer doubled {timer['backoff']} times to {timer['rto_ms'] / 1000:g} s (RFC 6298, 5.5). "
               if timer["backoff"] else f"timer at {timer['rto_ms'] / 1000:g} s. ")
            + "The sender learns that a retransmission got through only when its ACK gets through too, so each "
              "try can fail on either crossing; Linux gives up on a connection only after about 15 minutes of "
              "such tries (tcp_retries2 = 15).")


def explain_reliable(results: dict) -> str | None:
    """Reliable UDP: what its sender sent, and its latency beside TCP's (None when the row did not run)."""
    reliable, tcp = results.get("reliable"), results["tcp"]
    if not reliable or "skipped" in reliable:
        return None
    text = (f"Reliable UDP (the kit's Go-Back-N, lab/udp/reliable.py, window {reliable['window']}) delivered "
            f"{reliable['delivered']}/{reliable['sent']} {'in order' if reliable['in_order'] else 'NOT in order'}: "
            f"its sender sent {reliable['datagrams_sent']['sender']} datagrams for {reliable['sent']} messages, "
            f"{reliable['retransmissions']} of them again, because every loss waits for the timer (200 ms at least, "
            "backing off) and then the whole window goes again.")
    ours, theirs = reliable["latency_ms"]["p50"], tcp.get("latency_ms", {}).get("p50")
    if results.get("tcp_recorded") and ours is not None and theirs is not None:
        # A recorded TCP row (lesson 6 without root) came from another run, on another path.
        return text + (f" Its median latency was {ours:.0f} ms; TCP's row is a recorded run in the emulated "
                       f"network (median {theirs:.0f} ms), not this run, so the two are not one measurement.")
    if "skipped" not in tcp and ours is not None and theirs is not None:
        slower = ours > theirs
        text += (f" Its median latency, {ours:.0f} ms, is {'above' if slower else 'below'} TCP's {theirs:.0f} ms"
                 + (": Linux's TCP repairs most losses within a round trip (SACK, RACK-TLP) instead of waiting "
                    "for its timer." if slower else "."))
    return text


def explain_counters(results: dict) -> str | None:
    """Why the counts of one row differ from one another (None without the emulated network's capture)."""
    tcp, reliable = results["tcp"], results.get("reliable")
    if results["mode"] != "netlab" or "wire" not in tcp:
        return None
    text = ("Counters: the router's run only while the loss is on; its capture also holds the joins "
            "(or the SYN) before and the goodbyes after. TCP's own count is TCP_INFO's total_retrans "
            "of the sockets that sent, in MSS units: a resent burst that crosses the link as one "
            "packet counts once on the wire and several times there.")
    if reliable and "wire" in reliable:
        seen, counted = reliable["wire"]["retransmissions_from_sender"], reliable["retransmissions"]
        dropped = reliable["wire"].get("tcpdump", {}).get("dropped_by_kernel")
        text += (" Reliable UDP's own count is its sender's; the capture of the sender's leg holds every "
                 f"copy it sent, so they agree ({seen} and {counted})." if seen == counted else
                 f" Reliable UDP: the capture holds {seen} of the sender's {counted} retransmissions "
                 f"(tcpdump says it dropped {dropped} packets).")
    return text


def explain(results: dict) -> list[str]:
    """Every sentence that applies to RESULTS, in the table's order."""
    found = [explain_udp(results), explain_tcp(results), explain_reliable(results), explain_counters(results)]
    return [line for line in found if line]
