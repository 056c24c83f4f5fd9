"""Benchmarks of issue 14, run by run.py (`--only search upload`): search latency over a large
database, and the server's memory while it receives a large upload.

search: a database of N messages in 100 rooms with a Zipf-distributed vocabulary (about 30,000
words, the 150 commonest English ones on top), written with sqlite3 executemany (the FTS
triggers index as it goes: that is the build time reported). The caller belongs to half the
rooms. One- and two-word queries drawn from common, middling and rare words are sent one at a
time over a kept-alive HTTP connection from the load core; p50/p99 end to end.

upload: one upload of `mb` MB streamed to a fresh server; its peak RSS (VmHWM) before and
after, and the time taken.

uploaders: the upload side of loadgen.py's `uploads` scenario (chat beside concurrent
uploads): threads uploading files back to back, steered by the load generator over stdin.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import urlencode

from campfire.validate import new_time_ordered_id

COMMON = (
    "the be to of and a in that have i it for not on with he as you do at this but his by from "
    "they we say her she or an will my one all would there their what so up out if about who "
    "get which go me when make can like time no just him know take people into year your good "
    "some could them see other than then now look only come its over think also back after use "
    "two how our work first well way even new want because any these give day most us is was "
    "are been has had did said got made going went deploy release build test fix bug review "
    "merge branch server client meeting today tomorrow yesterday please thanks lunch coffee "
    "team project issue ticket customer data report design plan call sync update change"
).split()
SYLLABLES = (
    "ba be bi bo bu ka ke ki ko ku la le li lo lu ma me mi mo mu na ne ni no nu ra re ri ro "
    "ru sa se si so su ta te ti to tu va ve vi vo za ze zi zo an en in on un ar er ir or ur"
).split()


def vocabulary(size: int, rng: random.Random) -> list[str]:
    """COMMON first, then made-up words of 2 to 4 syllables (some with accents), no repeats."""
    words, seen = list(COMMON), set(COMMON)
    while len(words) < size:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if rng.random() < 0.03:
            word = word.replace("e", "é", 1)
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def build_search_db(db: Path, campfire_bin: str, env: dict, params: dict) -> dict:
    """Create the database (CLI for the schema and the caller's token, sqlite3 for the bulk)."""
    rng = random.Random(14)
    run = lambda *args: subprocess.run(  # noqa: E731
        [campfire_bin, *args, "--db", str(db)], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    run("user", "add", "caller@bench.example", "--name", "Caller")
    token = run("token", "issue", "caller@bench.example")
    words = vocabulary(params["vocabulary"], rng)
    weights = list(itertools.accumulate(1 / (rank + 1) ** 1.07 for rank in range(len(words))))
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -262144")  # 256 MB: a bulk load, not the server
    caller = conn.execute("SELECT id FROM users").fetchone()[0]
    now = "2024-01-01T00:00:00Z"
    authors = [str(uuid.uuid4()) for _ in range(200)]
    conn.executemany(
        "INSERT INTO users (id, name, email, password_hash, created_at) VALUES (?, ?, ?, 'x', ?)",
        [(a, f"Author {i}", f"a{i}@bench.example", now) for i, a in enumerate(authors)],
    )
    rooms = [str(uuid.uuid4()) for _ in range(params["rooms"])]
    conn.executemany(
        "INSERT INTO rooms (id, name, room_type, created_at) VALUES (?, ?, 'closed', ?)",
        [(r, f"room {i}", now) for i, r in enumerate(rooms)],
    )
    members = [(r, a, now) for r in rooms for a in rng.sample(authors, 20)]
    members += [(r, caller, now) for r in rooms[: params["member_rooms"]]]
    conn.executemany(
        "INSERT OR IGNORE INTO memberships (room_id, user_id, joined_at) VALUES (?, ?, ?)", members
    )
    conn.commit()
    # Multi-row INSERTs of 500, as the server's group commit writes: FTS5 flushes its pending
    # terms at every statement's end (a savepoint), so one statement per row, as executemany
    # does, would write one index segment per message and be ten times slower.
    per_statement = 500
    values = ",".join([f"(?, ?, ?, ?, ?, '{now}')"] * per_statement)
    sql = (
        "INSERT INTO messages (id, room_id, creator_id, content, client_message_id, created_at)"
        f" VALUES {values}"
    )
    build_s = 0.0
    for number in range(params["messages"] // per_statement):
        flat: list[str] = []
        for _ in range(per_statement):
            text = " ".join(rng.choices(words, cum_weights=weights, k=rng.randint(3, 24)))
            flat += [new_time_ordered_id(), rng.choice(rooms), rng.choice(authors), text]
            flat.append(str(uuid.uuid4()))
        t0 = time.monotonic()
        conn.execute(sql, flat)
        if number % 100 == 99:
            conn.commit()
        build_s += time.monotonic() - t0
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return {"token": token, "words": words, "build_s": build_s, "db_mb": db.stat().st_size / 1e6}


def queries(words: list[str], count: int, rng: random.Random) -> dict[str, list[str]]:
    """One- and two-word queries over common (rank < 100), middling and rare words."""
    bands = [words[:100], words[100:3000], words[3000:]]

    def pick() -> str:
        return rng.choice(rng.choice(bands))

    return {
        "one_word": [pick() for _ in range(count)],
        "two_words": [f"{pick()} {pick()}" for _ in range(count)],
    }


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def run_search(port: int, token: str, words: list[str], count: int) -> dict:
    """Send the queries one at a time; latency per kind."""
    rng = random.Random(7)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {token}"}
    result: dict = {}
    for kind, qs in queries(words, count, rng).items():
        for q in qs[:20]:  # warm the page cache and the connection
            _get(conn, q, headers)
        times, hits = [], []
        for q in qs:
            t0 = time.perf_counter()
            found = _get(conn, q, headers)
            times.append((time.perf_counter() - t0) * 1000)
            hits.append(found)
        result[kind] = {
            "p50_ms": statistics.median(times),
            "p99_ms": percentile(times, 99),
            "max_ms": max(times),
            "queries": len(times),
            "with_results": sum(1 for h in hits if h),
        }
    conn.close()
    return result


def _get(conn: http.client.HTTPConnection, q: str, headers: dict) -> int:
    """One search over the kept-alive connection; how many results it found."""
    conn.request("GET", "/api/search?" + urlencode({"q": q, "limit": 20}), headers=headers)
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 200:
        raise RuntimeError(f"search {q!r}: {resp.status} {body[:200]!r}")
    return len(json.loads(body)["results"])


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    """A process's resident memory (or its peak, VmHWM) in KB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


BOUNDARY = "benchboundary"
TAIL = f"\r\n--{BOUNDARY}--\r\n".encode()
MB = 1024 * 1024
PIECE = 64 * 1024  # a paced uploader sends this much at a time (a 3 MB/s uplink: every 21 ms)


def head_of() -> bytes:
    """The multipart body up to the file's bytes (each upload its own client_message_id)."""
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="client_message_id"\r\n\r\n'
        f"{uuid.uuid4()}\r\n--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()


def file_chunk(seed: int) -> bytes:
    """1 MB of random bytes: incompressible, like real files."""
    return random.Random(seed).randbytes(MB)


def run_upload(port: int, pid: int, token: str, room_id: str, mb: int) -> dict:
    """Stream one upload of `mb` MB; the server's RSS growth (peak) and the time it took."""
    boundary, tail = BOUNDARY, TAIL
    head = head_of()
    chunk = file_chunk(1)

    def body() -> Iterator[bytes]:
        yield head
        for _ in range(mb):
            yield chunk
        yield tail

    # One small upload first, so the code paths and pools exist before the baseline is read.
    warm = head_of()
    _upload(port, token, room_id, boundary, [warm, b"warm", tail], len(warm) + 4 + len(tail))
    time.sleep(0.3)
    before = rss_kb(pid)
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_kb(pid))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    t0 = time.monotonic()
    try:
        _upload(port, token, room_id, boundary, body(), len(head) + mb * len(chunk) + len(tail))
    finally:
        done.set()
        sampler.join()
    return {
        "mb": mb,
        "seconds": time.monotonic() - t0,
        "rss_before_kb": before,
        "peak_growth_kb": peak[0] - before,
        "rss_after_kb": rss_kb(pid),
    }


def _upload(
    port: int, token: str, room_id: str, boundary: str, body: Iterable[bytes], length: int
) -> None:
    """POST one multipart upload of `length` bytes; fails unless it was created."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request(
        "POST",
        f"/api/rooms/{room_id}/attachments",
        body=body,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(length),
        },
    )
    resp = conn.getresponse()
    text = resp.read()
    conn.close()
    if resp.status != 201:
        raise RuntimeError(f"upload: {resp.status} {text[:300]!r}")


def run_uploaders(cfg: dict) -> dict:
    """Concurrent uploaders (threads), each uploading files of `mb` MB back to back, steered
    by the load generator over stdin/stdout: prints `under way` once every uploader has sent
    its first megabyte, counts what goes up between the `start` and `stop` lines it then
    reads (the chat's measured window), finishes the uploads in flight and reports.
    `mb_per_s` > 0 paces each uploader (a client's uplink), their starts spread over one
    file's time, as people's are; 0 sends as fast as it can, all at once."""
    mb, pace = cfg["mb"], cfg.get("mb_per_s", 0)
    # The uploaders stand for people elsewhere, but run on the load generator's core: they
    # take it only when the load generator leaves it idle, so its timings stay its own.
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    lock = threading.Lock()
    # "started": uploaders that have sent their first megabyte.
    totals = {"files": 0, "failed": 0, "bytes": 0, "bytes_in_window": 0, "started": 0}
    errors: list[str] = []
    in_window, stopping = threading.Event(), threading.Event()
    under_way = threading.Event()  # set once every uploader has sent its first megabyte

    def uploader(number: int, token: str, room_id: str) -> None:
        chunk = memoryview(file_chunk(number))  # different files: none is stored once for all
        pieces = [chunk[i : i + PIECE] for i in range(0, MB, PIECE)]
        first = True
        if pace:
            # Starts spread over one file's time, each at its own phase: 20 people's uplinks
            # are not in step (with starts a whole number of pieces apart they were, and
            # 20 MB arrived at once three times a second).
            time.sleep(random.Random(number).uniform(0, mb / pace))
        due = time.monotonic()  # when the next piece may go

        def body(head: bytes) -> Iterator[bytes]:
            nonlocal first, due
            yield head
            for _ in range(mb):
                for piece in pieces:
                    if pace:  # the uplink's rate, across one file and the next; no bursts
                        time.sleep(max(0.0, due - time.monotonic()))
                        due = max(due, time.monotonic()) + PIECE / MB / pace
                    yield piece
                with lock:  # the megabyte before has gone to the socket
                    totals["bytes"] += MB
                    if in_window.is_set():
                        totals["bytes_in_window"] += MB
                    if first:  # counted, not waited for: the uploads go on at their pace
                        first = False
                        totals["started"] += 1
                        if totals["started"] == len(cfg["uploaders"]):
                            under_way.set()
            yield TAIL

        while not stopping.is_set():
            head = head_of()
            try:
                _upload(cfg["port"], token, room_id, BOUNDARY, body(head),
                        len(head) + mb * MB + len(TAIL))  # fmt: skip
            except (RuntimeError, OSError) as exc:
                with lock:
                    totals["failed"] += 1
                    errors.append(str(exc)[:200])
                time.sleep(0.1)  # not a hot loop against a server that refuses
                continue
            with lock:
                totals["files"] += 1

    threads = [
        threading.Thread(target=uploader, args=(i, u["token"], u["room_id"]))
        for i, u in enumerate(cfg["uploaders"])
    ]
    for thread in threads:
        thread.start()
    if not under_way.wait(60):
        raise RuntimeError("the uploaders did not all start within 60 s")
    print("under way", flush=True)
    assert sys.stdin.readline().strip() == "start"
    in_window.set()
    t0 = time.monotonic()
    assert sys.stdin.readline().strip() == "stop"
    in_window.clear()
    window_s = time.monotonic() - t0
    stopping.set()
    for thread in threads:
        thread.join()
    return {
        "uploaders": len(threads),
        "files": totals["files"],
        "failed": totals["failed"],
        "first_errors": errors[:3],
        "mb_total": totals["bytes"] / MB,
        "mb_in_window": totals["bytes_in_window"] / MB,
        "mb_per_s_in_window": totals["bytes_in_window"] / MB / window_s,
        "window_s": window_s,
    }


def main() -> None:
    """Run one client side (argv[1]: a JSON config from run.py); print the result as JSON."""
    cfg = json.loads(sys.argv[1])
    if cfg["scenario"] == "search":
        words = json.loads(Path(cfg["words_file"]).read_text())
        result = run_search(cfg["port"], cfg["token"], words, cfg["queries"])
    elif cfg["scenario"] == "uploaders":  # started by loadgen.py's `uploads` scenario
        result = run_uploaders(cfg)
    else:
        result = run_upload(cfg["port"], cfg["pid"], cfg["token"], cfg["room_id"], cfg["mb"])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
