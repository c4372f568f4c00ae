"""ex11 whose ACK of the SYN-ACK acknowledges the server's ISN itself, not ISN + 1.

The server's SYN consumes one sequence number (RFC 9293 3.4), so the
handshake's third segment carries ack = ISN + 1.  With ack = ISN the server
finds the ACK unacceptable and answers with an RST: the connection never
opens, the name never arrives.
"""

EXERCISE = "ex11_handcraft"
MUST_FAIL = ["test_ack_of_synack", "test_live_handshake_and_name", "test_live_line_reaches_a_real_client",
             "test_live_close_with_fin"]


def apply(module) -> None:
    def ack_of_synack(synack):
        from scapy.layers.inet import IP, TCP

        (server, sport), (client, cport) = module.endpoints(synack)
        return IP(src=client, dst=server) / TCP(sport=cport, dport=sport, flags="A", seq=synack[TCP].ack,
                                                ack=synack[TCP].seq)

    module.ack_of_synack = ack_of_synack
