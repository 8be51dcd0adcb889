#include "io/zip_check.h"

#include <array>
#include <cstdint>
#include <cstring>

#include <caffe2/serialize/in_memory_adapter.h>
#include <caffe2/serialize/inline_container.h>

#include "api/error.h"

namespace kds {
namespace {

// CRC-32 (IEEE 802.3, the zip polynomial), table-driven.
uint32_t crc32(const unsigned char* data, size_t size) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) c = table[(c ^ data[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

class Reader {
 public:
  Reader(const std::vector<char>& bytes, std::string what, std::string path)
      : data_(reinterpret_cast<const unsigned char*>(bytes.data())), size_(bytes.size()), what_(std::move(what)), path_(std::move(path)) {}

  uint64_t u(uint64_t offset, int width) const {
    need(offset, width);
    uint64_t v = 0;
    for (int i = width - 1; i >= 0; --i) v = (v << 8) | data_[offset + i];
    return v;
  }
  void need(uint64_t offset, uint64_t length) const {
    if (offset > size_ || length > size_ - offset) fail("it is truncated or its zip directory is damaged");
  }
  [[noreturn]] void fail(const std::string& why) const {
    throw Error(ErrorCode::File, "'" + path_ + "' is not " + what_ + ": it is corrupt (" + why + ")");
  }
  const unsigned char* at(uint64_t offset) const { return data_ + offset; }
  uint64_t size() const { return size_; }

 private:
  const unsigned char* data_;
  uint64_t size_;
  std::string what_, path_;
};

constexpr uint32_t kEndOfDirectory = 0x06054b50, kEnd64Locator = 0x07064b50, kEnd64 = 0x06064b50;
constexpr uint32_t kDirectoryEntry = 0x02014b50, kLocalHeader = 0x04034b50;

}  // namespace

void checkZipIntegrity(const std::vector<char>& bytes, const std::string& what, const std::string& path) {
  Reader r(bytes, what, path);
  if (r.size() < 22 || r.u(0, 4) != kLocalHeader)
    throw Error(ErrorCode::File, "'" + path + "' is not " + what + " (not a zip archive)");
  // The end-of-directory record sits in the last 22 + 65535 bytes (it may be followed by a comment).
  uint64_t eocd = UINT64_MAX;
  const uint64_t lowest = r.size() > 22 + 65535 ? r.size() - 22 - 65535 : 0;
  for (uint64_t p = r.size() - 22;; --p) {
    if (r.u(p, 4) == kEndOfDirectory) {
      eocd = p;
      break;
    }
    if (p == lowest) break;
  }
  if (eocd == UINT64_MAX) r.fail("no zip end-of-directory record (truncated?)");
  uint64_t entries = r.u(eocd + 10, 2), dirSize = r.u(eocd + 12, 4), dirOffset = r.u(eocd + 16, 4);
  if (entries == 0xFFFF || dirSize == 0xFFFFFFFF || dirOffset == 0xFFFFFFFF) {  // zip64
    if (eocd < 20 || r.u(eocd - 20, 4) != kEnd64Locator) r.fail("damaged zip64 directory locator");
    const uint64_t e64 = r.u(eocd - 20 + 8, 8);
    if (r.u(e64, 4) != kEnd64) r.fail("damaged zip64 end-of-directory record");
    entries = r.u(e64 + 32, 8);
    dirSize = r.u(e64 + 40, 8);
    dirOffset = r.u(e64 + 48, 8);
  }
  r.need(dirOffset, dirSize);
  std::vector<std::pair<std::string, uint32_t>> deflated;  // name, CRC
  uint64_t p = dirOffset;
  for (uint64_t i = 0; i < entries; ++i) {
    if (r.u(p, 4) != kDirectoryEntry) r.fail("damaged zip directory entry");
    const uint64_t method = r.u(p + 10, 2), crc = r.u(p + 16, 4);
    uint64_t compressed = r.u(p + 20, 4), uncompressed = r.u(p + 24, 4);
    const uint64_t nameLength = r.u(p + 28, 2), extraLength = r.u(p + 30, 2), commentLength = r.u(p + 32, 2);
    uint64_t local = r.u(p + 42, 4);
    r.need(p + 46, nameLength + extraLength);
    const std::string name(reinterpret_cast<const char*>(r.at(p + 46)), nameLength);
    // zip64 sizes and offset live in extra field 0x0001, in this order, for the fields set to 0xFFFFFFFF.
    for (uint64_t e = p + 46 + nameLength; e + 4 <= p + 46 + nameLength + extraLength;) {
      const uint64_t id = r.u(e, 2), length = r.u(e + 2, 2);
      if (id == 0x0001) {
        uint64_t q = e + 4;
        if (uncompressed == 0xFFFFFFFF) uncompressed = r.u(q, 8), q += 8;
        if (compressed == 0xFFFFFFFF) compressed = r.u(q, 8), q += 8;
        if (local == 0xFFFFFFFF) local = r.u(q, 8);
      }
      e += 4 + length;
    }
    if (r.u(local, 4) != kLocalHeader) r.fail("damaged local header of '" + name + "'");
    const uint64_t start = local + 30 + r.u(local + 26, 2) + r.u(local + 28, 2);
    r.need(start, compressed);
    if (method == 0) {
      if (compressed != uncompressed) r.fail("inconsistent sizes of '" + name + "'");
      if (crc32(r.at(start), compressed) != crc) r.fail("checksum mismatch in '" + name + "'");
    } else {
      deflated.emplace_back(name, static_cast<uint32_t>(crc));
    }
    p += 46 + nameLength + extraLength + commentLength;
  }
  if (deflated.empty()) return;
  // Compressed records (TorchScript code): LibTorch's inflater does not check their CRCs, and damaged code
  // crashed its TorchScript parser. Inflate them here and compare.
  try {
    caffe2::serialize::PyTorchStreamReader reader(
        std::make_shared<caffe2::serialize::MemoryReadAdapter>(bytes.data(), static_cast<off_t>(bytes.size())));
    for (const auto& [name, crc] : deflated) {
      const auto slash = name.find('/');
      auto [data, size] = reader.getRecord(slash == std::string::npos ? name : name.substr(slash + 1));
      if (crc32(static_cast<const unsigned char*>(data.get()), size) != crc) r.fail("checksum mismatch in '" + name + "'");
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    r.fail(std::string("a compressed record cannot be read (") + e.what() + ")");
  }
}

}  // namespace kds
