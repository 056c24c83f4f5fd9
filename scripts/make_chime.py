#!/usr/bin/env python3
"""Make campfire/static/chime.wav: the short sound the web client plays for a new message.

Two soft bell notes a major sixth apart (E6 then C#7), each a sine with two quiet overtones
and an exponential decay, 0.55 s in all, 16-bit mono at 22 050 Hz (about 24 kB). Pure Python
(the standard library's `wave`), so it can be made again anywhere:

    python3 scripts/make_chime.py [--out campfire/static/chime.wav]
"""

from __future__ import annotations

import argparse
import math
import struct
import wave
from pathlib import Path

RATE = 22_050
SECONDS = 0.55
# (start in seconds, frequency in Hz, loudness): the second note answers the first.
NOTES = [(0.0, 1318.5, 0.55), (0.11, 2217.5, 0.45)]
OVERTONES = [(1.0, 1.0), (2.0, 0.18), (3.0, 0.06)]  # (multiple of the note, relative loudness)
DECAY = 9.0  # per second: the bell fades to about 1% within half a second
ATTACK = 0.004  # seconds of fade-in, so the note starts without a click


def sample(t: float) -> float:
    """The chime's amplitude at time t (seconds), between -1 and 1."""
    total = 0.0
    for start, freq, loud in NOTES:
        dt = t - start
        if dt < 0:
            continue
        envelope = loud * math.exp(-DECAY * dt) * min(1.0, dt / ATTACK)
        total += envelope * sum(w * math.sin(2 * math.pi * freq * k * dt) for k, w in OVERTONES)
    fade_out = min(1.0, (SECONDS - t) / 0.05)  # the last 50 ms go quietly to zero
    return max(-1.0, min(1.0, total * 0.6 * fade_out))


def main() -> None:
    """Write the chime as a WAV file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = Path(__file__).resolve().parent.parent
    parser.add_argument("--out", type=Path, default=root / "campfire/static/chime.wav")
    out = parser.parse_args().out
    frames = b"".join(
        struct.pack("<h", round(sample(i / RATE) * 32767)) for i in range(int(SECONDS * RATE))
    )
    with wave.open(str(out), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(frames)
    print(f"{out}: {len(frames) // 2} samples, {out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
