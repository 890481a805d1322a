"""Answers every HTTP request with the greeting and the build-time index.

python3-minimal has no http.server, so this speaks just enough HTTP/1.0."""

import pathlib
import socket

HERE = pathlib.Path(__file__).parent


def body() -> bytes:
    greeting = (HERE / "greeting.txt").read_text().strip()
    index = (HERE.parent / "INDEX").read_text()
    return f"{greeting}\n{index}".encode()


def main() -> None:
    server = socket.create_server(("0.0.0.0", 8000))
    while True:
        conn, _ = server.accept()
        with conn:
            conn.recv(4096)
            b = body()
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(b) + b)


if __name__ == "__main__":
    main()
