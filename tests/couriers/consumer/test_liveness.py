"""Liveness: the file is touched at most once per interval, and not at all without a path."""

from couriers.consumer.liveness import Liveness


def test_the_file_is_touched_at_most_once_a_second(tmp_path):
    now = [0.0]
    path = tmp_path / "alive"
    liveness = Liveness(str(path), clock=lambda: now[0])

    liveness.beat()
    path.unlink()
    now[0] = 0.5
    liveness.beat()
    assert not path.exists()
    now[0] = 1.0
    liveness.beat()

    assert path.exists()


def test_no_path_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    Liveness("").beat()

    assert list(tmp_path.iterdir()) == []
