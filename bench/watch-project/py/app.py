# Answers every request with message.txt as it was when the server started.
# Plain sockets: the fixture's python image is python3-minimal (no http.server).
import socket

MESSAGE = open("/app/message.txt", "rb").read()
REPLY = b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(MESSAGE), MESSAGE)

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8000))
s.listen(64)
while True:
    c, _ = s.accept()
    try:
        c.recv(65536)
        c.sendall(REPLY)
    finally:
        c.close()
