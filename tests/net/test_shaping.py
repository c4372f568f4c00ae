"""The router's settings: units as tc reads them, the stage chosen, the tc arguments (no root needed)."""

from __future__ import annotations

import pytest

from lab.net import shaping
from lab.net.shaping import LinkSettings, ShapingError, choose_stage


@pytest.mark.parametrize("text, ms", [("40ms", 40.0), ("0.04s", 40.0), ("40", 40.0), (" 2.5 ms", 2.5),
                                      ("500us", 0.5), (40, 40.0), (None, None)])
def test_durations(text, ms):
    assert shaping.parse_duration_ms(text) == ms


@pytest.mark.parametrize("text, bits", [("2mbit", 2_000_000), ("500kbit", 500_000), ("1.5Mbit", 1_500_000),
                                        ("64000bit", 64_000), ("1gbit", 10**9)])
def test_rates_are_bits_per_second_si(text, bits):
    assert shaping.parse_rate_bits(text) == bits


def test_tc_units_bps_means_bytes():
    assert shaping.parse_rate_bits("2mbps") == 16_000_000  # as tc: bytes per second
    assert shaping.parse_rate_bits("1mibit") == 2**20
    assert shaping.describe(LinkSettings(rate_bits=shaping.parse_rate_bits("250kbps")), "tun").startswith(
        "rate 2 Mbit/s")


def test_rates_tc_would_refuse_are_refused():
    with pytest.raises(ShapingError, match="at least 8kbit"):
        shaping.parse_rate_bits("10bit")
    with pytest.raises(ShapingError, match="2mbit"):
        shaping.parse_rate_bits("fast")


@pytest.mark.parametrize("text, size", [("32kb", 32768), ("32k", 32768), ("1mb", 1048576), ("4000", 4000),
                                        ("1500b", 1500)])
def test_sizes_are_bytes_with_k_1024_as_tc(text, size):
    assert shaping.parse_size_bytes(text) == size


def test_default_queue_is_100_ms_at_the_rate_with_a_floor():
    assert LinkSettings(rate_bits=2_000_000).queue == 25_000
    assert LinkSettings(rate_bits=100_000).queue == 8 * shaping.MTU_FRAME
    assert LinkSettings(rate_bits=2_000_000, queue_bytes=32768).queue == 32768
    assert LinkSettings().queue is None


@pytest.mark.parametrize("bad", [dict(queue_bytes=30000), dict(rate_bits=10**6, queue_bytes=1000),
                                 dict(loss=150), dict(delay_ms=-3), dict(reorder=1.5)])
def test_bad_settings_say_why(bad):
    with pytest.raises(ShapingError):
        LinkSettings(**bad)


def test_auto_stage():
    assert choose_stage(LinkSettings(loss=20), "auto", netem_available=True) == "nftables"
    assert choose_stage(LinkSettings(loss=20, rate_bits=10**6), "auto", netem_available=False) == "nftables"
    assert choose_stage(LinkSettings(delay_ms=20), "auto", netem_available=True) == "netem"
    assert choose_stage(LinkSettings(delay_ms=20), "auto", netem_available=False) == "tun"
    assert choose_stage(LinkSettings(delay_ms=20, seed=7), "auto", netem_available=True) == "tun"
    assert choose_stage(LinkSettings(loss=1, seed=7), "auto", netem_available=True) == "tun"


@pytest.mark.parametrize("settings, stage, netem, says", [
    (LinkSettings(delay_ms=20), "nftables", True, "only drops"),
    (LinkSettings(delay_ms=20), "netem", False, "no netem"),
    (LinkSettings(delay_ms=20, seed=1), "netem", True, "seeded"),
    (LinkSettings(reorder=5), "netem", True, "only delayed"),
    (LinkSettings(), "fast", True, "choose"),
])
def test_impossible_stages_are_refused(settings, stage, netem, says):
    with pytest.raises(ShapingError, match=says):
        choose_stage(settings, stage, netem)


def test_tbf_and_netem_arguments():
    s = LinkSettings(delay_ms=40, loss=1, rate_bits=2_000_000, queue_bytes=32768, reorder=5, duplicate=2)
    assert shaping.tbf_args(s) == ["tbf", "rate", "2000000bit", "burst", "3028", "limit", "32768"]
    assert shaping.tbf_args(LinkSettings(rate_bits=100_000_000))[4] == "50000"  # 4 ms at 100 Mbit/s
    assert shaping.netem_args(s) == ["netem", "limit", "100000", "delay", "40ms", "loss", "random", "1%",
                                     "reorder", "5%", "duplicate", "2%"]
    netem = shaping.qdisc_commands(s, "netem", "R", "to-server")
    assert netem[0][7:10] == ["root", "handle", "1:"] and netem[0][10:] == shaping.netem_args(s)
    assert netem[1][7:11] == ["parent", "1:1", "handle", "10:"] and netem[1][11:] == shaping.tbf_args(s)
    assert shaping.qdisc_commands(s, "tun", "R", "to-server") == [
        ["tc", "-n", "R", "qdisc", "add", "dev", "to-server", "root", *shaping.tbf_args(s)]]
    assert shaping.qdisc_commands(LinkSettings(delay_ms=5), "tun", "R", "x") == []


def test_qdisc_drops_from_tc_json():
    stats = [{"kind": "netem", "drops": 3}, {"kind": "tbf", "drops": 5}, {"kind": "tbf", "drops": 1}]
    assert shaping.qdisc_drops(stats) == {"netem": 3, "tbf": 6}


def test_describe_reads_like_the_settings():
    text = shaping.describe(LinkSettings(delay_ms=40, rate_bits=2_000_000, queue_bytes=32768, loss=1, seed=7), "tun")
    assert text == ("delay 40 ms each way (+80 ms round trip), rate 2 Mbit/s with a 32,768-byte queue, "
                    "loss 1 %, seed 7")
