"""A real Apache Kafka broker (KRaft, one node) for tests and people, assembled from Maven Central.

The jars come once through Maven into a cache folder outside the repository. Each start formats a fresh
data folder with a new cluster id and runs `kafka.Kafka` on free loopback ports, with topic auto-creation
off as in production. Besides the plain listener there is a SASL/PLAIN one (credentials made up per
broker) and, with `tls=True`, a SASL_SSL one signed by a throw-away certificate, to test authentication.

The JVM must never outlive us: it gets SIGKILL when the process that started it dies (PR_SET_PDEATHSIG),
and runs in a process group of its own so that the terminal's Ctrl-C reaches us first and we stop it.
"""

import argparse
import base64
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from couriers.consumer.topics import topics_ensure

KAFKA_VERSION = "4.1.1"
LOG4J_VERSION = "2.24.3"  # the log4j2 Kafka 4.1 is built with; its slf4j is 1.7, hence log4j-slf4j-impl
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "service-courier" / f"kafka-{KAFKA_VERSION}"
START_TIMEOUT = 180.0  # a cold JVM on two busy cores is slow
STOP_TIMEOUT = 30.0
JVM_OPTIONS = ["-Xms128m", "-Xmx512m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true"]
PR_SET_PDEATHSIG = 1
SAN = ["-ext", "SAN=ip:127.0.0.1,dns:localhost"]  # the name clients check the certificate against
INSTALL = "apt-get install --no-install-recommends openjdk-17-jdk-headless maven"
PARTITIONS = 4  # what librdkafka's mock gives every topic: a topic has one shape on both brokers

POM = f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>service-courier</groupId>
  <artifactId>kafka-broker-classpath</artifactId>
  <version>{KAFKA_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>{KAFKA_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{LOG4J_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>{LOG4J_VERSION}</version>
    </dependency>
  </dependencies>
</project>
"""

LOG4J2 = """status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.kafka.name = org.apache.kafka
logger.kafka.level = info
"""


class KafkaServerError(RuntimeError):
    """The broker could not be fetched, formatted or started."""


def fetch_jars(cache: Path = CACHE) -> Path:
    """The broker's classpath folder, downloaded by Maven the first time and reused after."""
    libs = cache / "libs"
    if _jars_cached(cache):
        return libs
    if shutil.which("mvn") is None:
        raise KafkaServerError("the real Kafka broker needs Maven (`mvn`) to fetch its jars: apt-get install maven")
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "pom.xml").write_text(POM)
    # Into a folder of our own, renamed when complete: a second session fetching at once does no harm.
    partial = Path(tempfile.mkdtemp(prefix="libs.", dir=cache))
    command = ["mvn", "-q", "-B", "-f", str(cache / "pom.xml"), "dependency:copy-dependencies"]
    result = subprocess.run([*command, f"-DoutputDirectory={partial}"], capture_output=True, text=True)
    if result.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise KafkaServerError(f"Maven could not fetch Kafka {KAFKA_VERSION}:\n{result.stdout[-3000:]}")
    (partial / ".complete").touch()
    try:
        partial.rename(libs)
    except OSError:  # another session finished first
        shutil.rmtree(partial, ignore_errors=True)
    return libs


def _jars_cached(cache: Path) -> bool:
    return (cache / "libs" / ".complete").exists()


def missing_tools(cache: Path = CACHE) -> list[str]:
    """The programs a broker start lacks on PATH: java always, mvn only while the jars are not cached."""
    needed = ["java"] if _jars_cached(cache) else ["java", "mvn"]
    return [name for name in needed if shutil.which(name) is None]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    """In the child before exec: the kernel kills it when its parent dies, however the parent died."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass(frozen=True)
class SaslUser:
    username: str
    password: str


class KafkaServer:
    """`with KafkaServer() as kafka: kafka.bootstrap_servers` (and `kafka.sasl_bootstrap_servers`)."""

    def __init__(self, *, tls: bool = False, start_timeout: float = START_TIMEOUT, cache: Path = CACHE) -> None:
        self.tls = tls
        self.start_timeout = start_timeout
        self.cache = cache
        self.user = SaslUser("courier", secrets.token_urlsafe(12))
        self.data: Path | None = None
        self.ports: dict[str, int] = {}
        self._process: subprocess.Popen[bytes] | None = None

    # --- addresses ------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        return self._address("PLAINTEXT")

    @property
    def sasl_bootstrap_servers(self) -> str:
        """SASL/PLAIN without TLS, for `self.user`."""
        return self._address("SASL_PLAINTEXT")

    @property
    def tls_bootstrap_servers(self) -> str:
        """SASL/PLAIN over TLS (only with tls=True); the CA is `self.ca_location`."""
        return self._address("SASL_SSL")

    @property
    def ca_location(self) -> Path:
        return self._require_data() / "ca.pem"

    @property
    def log_file(self) -> Path:
        return self._require_data() / "server.log"

    def _address(self, listener: str) -> str:
        if self._process is None or listener not in self.ports:
            raise KafkaServerError(f"the Kafka broker is not running with a {listener} listener")
        return f"127.0.0.1:{self.ports[listener]}"

    def _require_data(self) -> Path:
        if self.data is None:
            raise KafkaServerError("the Kafka broker was never started")
        return self.data

    # --- lifecycle ------------------------------------------------------------

    def start(self) -> "KafkaServer":
        libs = fetch_jars(self.cache)
        self.data = Path(tempfile.mkdtemp(prefix="kafka-"))
        try:
            self._launch(libs)
            self._wait_until_serving()
        except BaseException:
            self.stop()
            raise
        return self

    def _launch(self, libs: Path) -> None:
        listeners = ["PLAINTEXT", "CONTROLLER", "SASL_PLAINTEXT", *(["SASL_SSL"] if self.tls else [])]
        self.ports = {listener: free_port() for listener in listeners}
        if self.tls:
            self._make_certificate()
        config = self._require_data() / "server.properties"
        config.write_text(self._server_properties())
        (self._require_data() / "log4j2.properties").write_text(LOG4J2.format(log=self.log_file))
        # "=": an id may begin with "-", which the tool would read as an option.
        self._java(libs, "kafka.tools.StorageTool", "format", f"--cluster-id={_cluster_id()}", "-c", str(config))
        with (self._require_data() / "stdout.log").open("wb") as stdout:
            self._process = subprocess.Popen(
                self._java_command(libs, "kafka.Kafka", str(config)),
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
                start_new_session=True,
            )

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Shut the broker down (SIGTERM, then SIGKILL after `timeout`) and delete its data."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.data is not None:
            shutil.rmtree(self.data, ignore_errors=True)
            self.data = None

    @property
    def pid(self) -> int:
        """The JVM: a test may freeze it (SIGSTOP) to make the broker hang rather than vanish."""
        if self._process is None:
            raise RuntimeError("the Kafka broker is not running: call start() first")
        return self._process.pid

    def kill(self) -> None:
        """Kill the JVM outright, as a crash would: no controlled shutdown."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()

    def create_topics(self, *names: str, partitions: int = PARTITIONS) -> None:
        """As production does (this broker creates none on request); each is in the metadata on return."""
        config = {"bootstrap.servers": self.bootstrap_servers}
        topics_ensure(config, names, partitions=partitions, replication_factor=1)

    def __enter__(self) -> "KafkaServer":
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # --- helpers --------------------------------------------------------------

    def _java_command(self, libs: Path, main: str, *args: str) -> list[str]:
        log4j = f"-Dlog4j2.configurationFile={self._require_data() / 'log4j2.properties'}"
        return ["java", *JVM_OPTIONS, log4j, "-cp", f"{libs}/*", main, *args]

    def _java(self, libs: Path, main: str, *args: str) -> None:
        result = subprocess.run(self._java_command(libs, main, *args), capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise KafkaServerError(f"{main} {args[0]} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")

    def _wait_until_serving(self) -> None:
        """Until the port takes connections (quietly), then until a metadata request names the broker."""
        deadline = time.monotonic() + self.start_timeout
        while not self._port_open():
            self._check_alive(deadline)
            time.sleep(0.2)
        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
        while True:
            try:
                if admin.list_topics(timeout=2).brokers:
                    return
            except KafkaException:
                pass
            self._check_alive(deadline)
            time.sleep(0.2)

    def _port_open(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.ports["PLAINTEXT"])) == 0

    def _check_alive(self, deadline: float) -> None:
        if self._process.poll() is not None:
            raise KafkaServerError(f"the Kafka broker exited with {self._process.returncode}:\n{self._log_tail()}")
        if time.monotonic() > deadline:
            raise KafkaServerError(f"the Kafka broker did not answer within {self.start_timeout:.0f} s")

    def _log_tail(self) -> str:
        logs = [self.data / "stdout.log", self.log_file] if self.data else []
        return "\n".join(log.read_text(errors="replace")[-3000:] for log in logs if log.exists())

    def _make_certificate(self) -> None:
        """A self-signed certificate for 127.0.0.1 in a PKCS#12 keystore, and the same as the clients' CA file."""
        store, password = self._require_data() / "broker.p12", self._keystore_password
        keytool = ["keytool", "-keystore", str(store), "-storetype", "PKCS12", "-storepass", password, "-alias", "b"]
        subprocess.run(
            [*keytool, "-genkeypair", "-keyalg", "RSA", "-validity", "2", "-dname", "CN=127.0.0.1", *SAN],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [*keytool, "-exportcert", "-rfc", "-file", str(self.ca_location)], check=True, capture_output=True
        )

    @property
    def _keystore_password(self) -> str:
        return "kafka-" + self._require_data().name

    def _server_properties(self) -> str:
        ports, user = self.ports, self.user
        listeners = ",".join(f"{name}://127.0.0.1:{port}" for name, port in ports.items())
        advertised = ",".join(f"{name}://127.0.0.1:{port}" for name, port in ports.items() if name != "CONTROLLER")
        protocols = ",".join(f"{name}:{'PLAINTEXT' if name == 'CONTROLLER' else name}" for name in ports)
        jaas = (
            f'org.apache.kafka.common.security.plain.PlainLoginModule required username="{user.username}" '
            f'password="{user.password}" user_{user.username}="{user.password}";'
        )
        lines = [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{ports['CONTROLLER']}",
            f"listeners={listeners}",
            f"advertised.listeners={advertised}",
            f"listener.security.protocol.map={protocols}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={self._require_data() / 'data'}",
            # As in production: a topic exists only once it was created on purpose.
            "auto.create.topics.enable=false",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=4",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            # Short group timings, so that tests see members leave and join within seconds.
            "group.initial.rebalance.delay.ms=0",
            "group.min.session.timeout.ms=2000",
            "group.consumer.min.session.timeout.ms=2000",
            "group.consumer.session.timeout.ms=6000",
            "group.consumer.min.heartbeat.interval.ms=500",
            "group.consumer.heartbeat.interval.ms=1000",
            "sasl.enabled.mechanisms=PLAIN",
            f"listener.name.sasl_plaintext.plain.sasl.jaas.config={jaas}",
        ]
        if self.tls:
            store = self._require_data() / "broker.p12"
            lines += [
                f"listener.name.sasl_ssl.plain.sasl.jaas.config={jaas}",
                f"listener.name.sasl_ssl.ssl.keystore.location={store}",
                "listener.name.sasl_ssl.ssl.keystore.type=PKCS12",
                f"listener.name.sasl_ssl.ssl.keystore.password={self._keystore_password}",
            ]
        return "\n".join(lines) + "\n"


def _cluster_id() -> str:
    """A fresh cluster id as Kafka writes them: 16 random bytes, URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=f"Run Apache Kafka {KAFKA_VERSION} (KRaft, one node) until Ctrl-C.")
    parser.add_argument("--fetch-only", action="store_true", help=f"only download the jars into {CACHE}")
    parser.add_argument("--tls", action="store_true", help="also serve SASL_SSL with a throw-away certificate")
    args = parser.parse_args(argv)
    if args.fetch_only:
        print(fetch_jars())
        return
    stop = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with KafkaServer(tls=args.tls) as kafka:
        print(kafka.bootstrap_servers, flush=True)
        sasl = f"SASL_PLAINTEXT {kafka.sasl_bootstrap_servers}, PLAIN user {kafka.user.username} {kafka.user.password}"
        print(f"also: {sasl}; log: {kafka.log_file}; Ctrl-C stops it", file=sys.stderr, flush=True)
        if args.tls:
            print(f"SASL_SSL {kafka.tls_bootstrap_servers}, CA {kafka.ca_location}", file=sys.stderr, flush=True)
        while not stop:
            time.sleep(0.2)


if __name__ == "__main__":
    main()
