// sendDatagram(path, buffer): one datagram to a unix socket, for the
// systemd notification protocol (NOTIFY_SOCKET). Node has no unix datagram
// sockets. Policy-free: what to send and when is decided in TypeScript
// (src/service/notify.ts). A path starting with '@' names an abstract socket.
#include <napi.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace {

Napi::Error Failure(Napi::Env env, const std::string &what, int err) {
  Napi::Error error = Napi::Error::New(env, what + ": " + strerror(err));
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("step", Napi::String::New(env, "notify"));
  return error;
}

Napi::Value SendDatagram(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsBuffer())
    throw Napi::TypeError::New(env, "sendDatagram(path: string, data: Buffer)");
  std::string path = info[0].As<Napi::String>();
  Napi::Buffer<uint8_t> data = info[1].As<Napi::Buffer<uint8_t>>();

  sockaddr_un address;
  memset(&address, 0, sizeof(address));
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(address.sun_path))
    throw Failure(env, "socket path \"" + path + "\" is empty or too long", ENAMETOOLONG);
  memcpy(address.sun_path, path.data(), path.size());
  // An abstract socket's name starts with a NUL byte, spelled '@'.
  if (address.sun_path[0] == '@') address.sun_path[0] = '\0';
  socklen_t length = offsetof(sockaddr_un, sun_path) + path.size();

  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw Failure(env, "creating a unix datagram socket failed", errno);
  ssize_t sent = sendto(fd, data.Data(), data.Length(), MSG_NOSIGNAL,
                        reinterpret_cast<sockaddr *>(&address), length);
  int err = errno;
  close(fd);
  if (sent < 0) throw Failure(env, "sending to " + path + " failed", err);
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports["sendDatagram"] = Napi::Function::New(env, SendDatagram);
  return exports;
}

}  // namespace

NODE_API_MODULE(sigaudit_notify, Init)
