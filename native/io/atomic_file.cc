#include "io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "api/error.h"

namespace kds {
namespace {

std::string errnoText() { return std::strerror(errno); }

std::string parentDir(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

std::vector<char> readWholeFile(const std::string& path, const std::string& what) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    throw Error(ErrorCode::File, what + " '" + path + "' cannot be read: " + errnoText());
  if (!S_ISREG(st.st_mode)) throw Error(ErrorCode::File, what + " '" + path + "' is not a regular file");
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorCode::File, what + " '" + path + "' cannot be opened: " + errnoText());
  std::vector<char> bytes(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      throw Error(ErrorCode::File, what + " '" + path + "' could not be read completely");
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  if (bytes.empty()) throw Error(ErrorCode::File, what + " '" + path + "' is empty");
  return bytes;
}

void writeFileAtomically(const std::string& path, const std::vector<char>& bytes) {
  static std::atomic<unsigned> counter{0};
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(ErrorCode::File, "cannot write '" + path + "': " + errnoText());
  auto fail = [&](const std::string& step) {
    const std::string reason = errnoText();
    ::close(fd);
    ::unlink(tmp.c_str());
    throw Error(ErrorCode::File, "cannot write '" + path + "' (" + step + "): " + reason);
  };
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("write");
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) fail("fsync");
  if (::close(fd) != 0) {
    const std::string reason = errnoText();
    ::unlink(tmp.c_str());
    throw Error(ErrorCode::File, "cannot write '" + path + "' (close): " + reason);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string reason = errnoText();
    ::unlink(tmp.c_str());
    throw Error(ErrorCode::File, "cannot write '" + path + "' (rename): " + reason);
  }
  // Make the rename itself durable.
  int dir = ::open(parentDir(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

}  // namespace kds
