#include "io/pickle_compat.h"

#include <cstdint>
#include <set>
#include <vector>

namespace kds {
namespace {

// Pickle opcodes used below (protocol 2, what torch.save writes, plus the protocol 4 ones it may meet).
enum Opcode : unsigned char {
  kStop = '.', kEmptyTuple = ')', kEmptyDict = '}', kReduce = 'R', kBuild = 'b', kGlobal = 'c', kBinPut = 'q',
  kLongBinPut = 'r', kBinGet = 'h', kLongBinGet = 'j', kBinUnicode = 'X', kTuple3 = 0x87, kNewObj = 0x81,
  kMemoize = 0x94,
};

struct Op {
  unsigned char code;
  size_t begin, end;  // the opcode byte and its argument: pickle[begin, end)
};

uint64_t littleEndian(const std::string& p, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[at + i]);
  return v;
}

// Splits the pickle into opcodes; false for an opcode not listed (its length is unknown) or a cut stream.
bool splitOpcodes(const std::string& p, std::vector<Op>& ops) {
  size_t i = 0;
  while (i < p.size()) {
    const unsigned char code = p[i];
    size_t arg = 0;  // argument bytes after the opcode
    auto prefixed = [&](int lengthBytes) {
      if (i + 1 + lengthBytes > p.size()) return false;
      const uint64_t length = littleEndian(p, i + 1, lengthBytes);
      if (length > p.size()) return false;  // corrupt; also keeps the sums below from overflowing
      arg = lengthBytes + length;
      return true;
    };
    switch (code) {
      case '(': case ')': case '}': case ']': case 't': case 0x85: case 0x86: case 0x87: case 'N': case 0x88:
      case 0x89: case 'R': case 'b': case 0x81: case 'Q': case 's': case 'u': case 'a': case 'e': case 'l':
      case 'd': case '0': case '1': case '2': case '.': case 0x93: case 0x94:
        break;
      case 0x80: case 'q': case 'h': case 'K': arg = 1; break;
      case 'M': arg = 2; break;
      case 'r': case 'j': case 'J': arg = 4; break;
      case 'G': case 0x95: arg = 8; break;
      case 'X': case 'B': if (!prefixed(4)) return false; break;
      case 0x8c: case 'C': case 0x8a: if (!prefixed(1)) return false; break;
      case 0x8d: case 0x8e: if (!prefixed(8)) return false; break;
      case 'c': {  // module\nname\n
        size_t first = p.find('\n', i + 1);
        size_t second = first == std::string::npos ? first : p.find('\n', first + 1);
        if (second == std::string::npos) return false;
        arg = second - i;
        break;
      }
      default:
        return false;
    }
    if (i + 1 + arg > p.size()) return false;
    ops.push_back({code, i, i + 1 + arg});
    i += 1 + arg;
    if (code == kStop) return true;
  }
  return false;
}

}  // namespace

std::string plainDictsForOrderedDicts(const std::string& p) {
  static const std::string kOrderedDict = "ccollections\nOrderedDict\n";
  if (p.find(kOrderedDict) == std::string::npos) return p;
  std::vector<Op> ops;
  if (!splitOpcodes(p, ops)) return p;
  for (const auto& op : ops)  // NEWOBJ objects use BUILD for real; MEMOIZE numbers the memo implicitly
    if (op.code == kNewObj || op.code == kMemoize) return p;

  auto is = [&](size_t k, unsigned char code) { return k < ops.size() && ops[k].code == code; };
  auto memoIndex = [&](const Op& op) {
    return littleEndian(p, op.begin + 1, op.code == kBinPut || op.code == kBinGet ? 1 : 4);
  };
  std::set<uint64_t> classInMemo;  // memo slots of the OrderedDict class: never written (gaps read as None)
  std::string out;
  out.reserve(p.size());
  for (size_t k = 0; k < ops.size(); ++k) {
    const Op& op = ops[k];
    if (op.code == kGlobal && p.compare(op.begin, op.end - op.begin, kOrderedDict) == 0) {
      size_t next = k + 1;
      if (is(next, kBinPut) || is(next, kLongBinPut)) classInMemo.insert(memoIndex(ops[next++]));
      if (!is(next, kEmptyTuple) || !is(next + 1, kReduce)) return p;  // OrderedDict used other than as OrderedDict()
      out += static_cast<char>(kEmptyDict);
      k = next + 1;
    } else if ((op.code == kBinGet || op.code == kLongBinGet) && classInMemo.count(memoIndex(op))) {
      if (!is(k + 1, kEmptyTuple) || !is(k + 2, kReduce)) return p;
      out += static_cast<char>(kEmptyDict);
      k += 2;
    } else if (op.code == kBuild) {
      // Without NEWOBJ the C++ unpickler cannot BUILD anything; here it can only be an OrderedDict's
      // attributes: keep them aside as (dict, state, tag) for the reader to drop.
      const std::string tag = kOrderedDictWithState;
      out += static_cast<char>(kBinUnicode);
      for (int i = 0; i < 4; ++i) out += static_cast<char>((tag.size() >> (8 * i)) & 0xff);
      out += tag;
      out += static_cast<char>(kTuple3);
    } else {
      out.append(p, op.begin, op.end - op.begin);
    }
  }
  return out;
}

}  // namespace kds
