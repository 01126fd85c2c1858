# A systemd notify socket for tests: binds a unix datagram socket (a path,
# or '@name' for an abstract one), prints "bound", then each datagram it
# receives as one JSON string per line.
import json
import socket
import sys

path = sys.argv[1]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind("\0" + path[1:] if path.startswith("@") else path)
print("bound", flush=True)
while True:
    print(json.dumps(sock.recv(65536).decode()), flush=True)
