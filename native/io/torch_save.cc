#include "io/torch_save.h"

#include <caffe2/serialize/in_memory_adapter.h>
#include <caffe2/serialize/inline_container.h>

#include <cstring>
#include <functional>
#include <map>
#include <unordered_map>

#include "api/error.h"
#include "core/runtime.h"

namespace kds {

std::string PickledValue::describe() const {
  switch (kind) {
    case Kind::None: return "None";
    case Kind::Bool: return "a bool";
    case Kind::Int: return "an int";
    case Kind::Float: return "a float";
    case Kind::String: return "a string";
    case Kind::Tuple: return "a tuple";
    case Kind::List: return "a list";
    case Kind::Dict: return "a dict";
    case Kind::Tensor: return "a tensor";
    case Kind::Object: return "an object of class " + text;
    case Kind::Global: return "the class or function " + text;
  }
  return "a value";
}

PickledValue::~PickledValue() {
  std::vector<std::shared_ptr<PickledValue>> orphans;
  auto adopt = [&orphans](PickledValue& v) {
    for (auto& item : v.items) orphans.push_back(std::move(item));
    for (auto& [key, value] : v.entries) {
      orphans.push_back(std::move(key));
      orphans.push_back(std::move(value));
    }
    v.items.clear();
    v.entries.clear();
  };
  adopt(*this);
  while (!orphans.empty()) {
    auto last = std::move(orphans.back());
    orphans.pop_back();
    // The last owner empties it first, so its own destructor finds nothing to recurse into.
    if (last && last.use_count() == 1) adopt(*last);
  }
}

namespace {

using Kind = PickledValue::Kind;

// Tensor sizes, strides and offsets come from the file: arithmetic on them must not overflow.
bool mulAdd(int64_t a, int64_t b, int64_t& acc) {
  int64_t product;
  return !__builtin_mul_overflow(a, b, &product) && !__builtin_add_overflow(acc, product, &acc);
}

[[noreturn]] void damaged(const std::string& path, const std::string& what) {
  throw Error(ErrorCode::File, "'" + path + "' is not a state dict saved by torch.save, or it is damaged: " + what);
}

PickledPtr make(Kind kind) {
  auto v = std::make_shared<PickledValue>();
  v->kind = kind;
  return v;
}

// Where a tensor's data lives: a storage of the file (a record of the zip archive, or a block after the
// pickle in the legacy format), possibly a view into a larger one (legacy only).
struct StorageRef {
  std::string key;
  at::ScalarType dtype = at::kFloat;
  int64_t numel = 0;
  int64_t viewOffset = 0;
  int64_t viewNumel = -1;  // -1: the whole storage
};

struct TensorRecipe {
  StorageRef storage;
  int64_t offset = 0;
  std::vector<int64_t> sizes, strides;
};

std::optional<at::ScalarType> storageDtype(const std::string& globalName) {
  // torch.FloatStorage, torch.cuda.HalfStorage, ...: the class name decides.
  static const std::map<std::string, at::ScalarType> types{
      {"FloatStorage", at::kFloat}, {"DoubleStorage", at::kDouble}, {"HalfStorage", at::kHalf},
      {"BFloat16Storage", at::kBFloat16}, {"LongStorage", at::kLong}, {"IntStorage", at::kInt},
      {"ShortStorage", at::kShort}, {"CharStorage", at::kChar}, {"ByteStorage", at::kByte},
      {"BoolStorage", at::kBool}, {"UntypedStorage", at::kByte}};
  const auto dot = globalName.rfind('.');
  auto it = types.find(dot == std::string::npos ? globalName : globalName.substr(dot + 1));
  if (it == types.end()) return std::nullopt;
  return it->second;
}

class Unpickler {
 public:
  Unpickler(const char* data, size_t size, const std::string& path) : data_(data), size_(size), path_(path) {}

  // Unpickles one pickle starting at `pos`; leaves `pos` after its STOP.
  PickledPtr load(size_t& pos);

  // Tensors met so far, to be built once the storages can be read.
  std::vector<std::pair<PickledPtr, TensorRecipe>>& pendingTensors() { return pending_; }
  // The element type of a storage the pickle referred to.
  std::optional<at::ScalarType> dtypeOfStorage(const std::string& key) const {
    for (const auto& [node, ref] : storages_)
      if (ref.key == key) return ref.dtype;
    return std::nullopt;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    damaged(path_, what);
  }
  const char* take(size_t n) {
    if (n > size_ - pos_) fail("it ends in the middle of a value");
    const char* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  template <typename T>
  T readLittleEndian() {
    T v;
    std::memcpy(&v, take(sizeof(T)), sizeof(T));
    return v;
  }
  std::string readLine() {
    const char* start = data_ + pos_;
    const void* nl = std::memchr(start, '\n', size_ - pos_);
    if (!nl) fail("an unterminated text field");
    std::string line(start, static_cast<const char*>(nl));
    pos_ += line.size() + 1;
    return line;
  }
  PickledPtr pop() {
    if (stack_.empty()) fail("its pickle pops an empty stack");
    auto v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  size_t popMark() {
    if (marks_.empty()) fail("its pickle has no MARK where one is needed");
    size_t m = marks_.back();
    marks_.pop_back();
    if (m > stack_.size()) fail("its pickle has a broken MARK");
    return m;
  }
  std::vector<PickledPtr> popToMark() {
    size_t m = popMark();
    std::vector<PickledPtr> out(stack_.begin() + m, stack_.end());
    stack_.resize(m);
    return out;
  }
  int64_t parseInt(const std::string& line) {
    try {
      size_t used = 0;
      const int64_t v = std::stoll(line, &used);
      if (used == line.size()) return v;
    } catch (const std::exception&) {
    }
    fail("a malformed integer '" + line + "'");
  }
  PickledPtr integer(int64_t v) {
    auto p = make(Kind::Int);
    p->integer = v;
    return p;
  }
  PickledPtr string(std::string s) {
    auto p = make(Kind::String);
    p->text = std::move(s);
    return p;
  }
  PickledPtr global(const std::string& module, const std::string& name) {
    auto p = make(Kind::Global);
    p->text = module + "." + name;
    return p;
  }
  PickledPtr memoGet(int64_t id) {
    auto it = memo_.find(id);
    if (it == memo_.end()) fail("its pickle refers to an unknown memo entry");
    return it->second;
  }
  void memoPut(int64_t id) {
    if (stack_.empty()) fail("its pickle memoizes an empty stack");
    memo_[id] = stack_.back();
  }
  static void addEntries(PickledValue& dict, const std::vector<PickledPtr>& flat) {
    for (size_t i = 0; i + 1 < flat.size(); i += 2) setItem(dict, flat[i], flat[i + 1]);
  }
  static void setItem(PickledValue& dict, const PickledPtr& key, const PickledPtr& value) {
    if (key->kind == Kind::String)
      for (auto& entry : dict.entries)
        if (entry.first->kind == Kind::String && entry.first->text == key->text) {
          entry.second = value;
          return;
        }
    dict.entries.emplace_back(key, value);
  }
  PickledPtr persistentLoad(const PickledPtr& pid);
  PickledPtr call(const PickledPtr& callable, const PickledPtr& args, int depth = 0);
  PickledPtr rebuildTensor(const PickledPtr& args);
  std::vector<int64_t> intTuple(const PickledPtr& v, const char* what) {
    if (v->kind != Kind::Tuple && v->kind != Kind::List) fail(std::string("a tensor's ") + what + " is not a tuple");
    std::vector<int64_t> out;
    for (const auto& item : v->items) {
      if (item->kind != Kind::Int) fail(std::string("a tensor's ") + what + " holds a non-integer");
      out.push_back(item->integer);
    }
    return out;
  }

  const char* data_;
  size_t size_;
  size_t pos_ = 0;
  std::string path_;
  std::vector<PickledPtr> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<int64_t, PickledPtr> memo_;
  std::unordered_map<const PickledValue*, StorageRef> storages_;
  std::vector<std::pair<PickledPtr, TensorRecipe>> pending_;
};

PickledPtr Unpickler::persistentLoad(const PickledPtr& pid) {
  // ('storage', storage class, key, location, numel) and, in the legacy format, a sixth item: None or
  // (view key, offset, view numel).
  if (pid->kind != Kind::Tuple || pid->items.size() < 5 || pid->items[0]->kind != Kind::String || pid->items[0]->text != "storage")
    fail("a persistent id that is not a tensor storage");
  const auto& items = pid->items;
  if (items[1]->kind != Kind::Global || items[2]->kind != Kind::String || items[4]->kind != Kind::Int)
    fail("a malformed tensor storage reference");
  auto dtype = storageDtype(items[1]->text);
  if (!dtype) fail("a tensor storage of unsupported type " + items[1]->text);
  StorageRef ref{items[2]->text, *dtype, items[4]->integer};
  if (items.size() >= 6 && items[5]->kind == Kind::Tuple) {
    const auto& view = items[5]->items;
    if (view.size() != 3 || view[1]->kind != Kind::Int || view[2]->kind != Kind::Int) fail("a malformed storage view");
    ref.viewOffset = view[1]->integer;
    ref.viewNumel = view[2]->integer;
  }
  auto node = make(Kind::Object);
  node->text = "storage";
  storages_[node.get()] = ref;
  return node;
}

PickledPtr Unpickler::rebuildTensor(const PickledPtr& args) {
  // _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks[, metadata]) and the
  // older _rebuild_tensor(storage, offset, size, stride).
  if (args->kind != Kind::Tuple || args->items.size() < 4) fail("a tensor rebuilt from too few arguments");
  auto it = storages_.find(args->items[0].get());
  if (it == storages_.end()) fail("a tensor whose storage is not a storage reference");
  if (args->items[1]->kind != Kind::Int) fail("a tensor with a non-integer storage offset");
  TensorRecipe recipe{it->second, args->items[1]->integer, intTuple(args->items[2], "size"), intTuple(args->items[3], "stride")};
  if (recipe.sizes.size() != recipe.strides.size()) fail("a tensor whose size and stride differ in length");
  auto node = make(Kind::Tensor);
  pending_.emplace_back(node, std::move(recipe));
  return node;
}

PickledPtr Unpickler::call(const PickledPtr& callable, const PickledPtr& args, int depth) {
  if (callable->kind != Kind::Global) {
    auto obj = make(Kind::Object);  // a call of something that is not a named class or function
    obj->text = "unknown";
    return obj;
  }
  const std::string& name = callable->text;
  const auto& a = args->items;
  if (name == "collections.OrderedDict" || name == "builtins.dict" || name == "collections.defaultdict" ||
      name == "__builtin__.dict") {
    auto dict = make(Kind::Dict);
    // OrderedDict([(k, v), ...]) (protocol 0/1 picklers); state dicts usually come empty, then SETITEMS.
    if (name != "collections.defaultdict" && !a.empty() && (a[0]->kind == Kind::List || a[0]->kind == Kind::Tuple))
      for (const auto& pair : a[0]->items)
        if ((pair->kind == Kind::List || pair->kind == Kind::Tuple) && pair->items.size() == 2) setItem(*dict, pair->items[0], pair->items[1]);
    return dict;
  }
  if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") return rebuildTensor(args);
  if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
    if (a.empty() || a[0]->kind != Kind::Tensor) fail("a parameter without a tensor");
    return a[0];
  }
  if (name == "torch._tensor._rebuild_from_type_v2") {  // (function, type, args, state): a tensor subclass
    if (a.size() < 3) fail("a tensor rebuilt from too few arguments");
    // torch.save nests this once; a crafted pickle can make it refer to itself.
    if (depth >= 8) fail("tensor subclass rebuilds nested too deeply");
    return call(a[0], a[2], depth + 1);
  }
  if (name == "torch.jit._pickle.restore_type_tag") {  // (value, type string): LibTorch's typed containers
    if (a.empty()) fail("an empty type tag");
    return a[0];
  }
  if (name.rfind("torch.jit._pickle.build_", 0) == 0 || name == "torch.Size" || name == "builtins.tuple" ||
      name == "builtins.list" || name == "builtins.set" || name == "builtins.frozenset") {
    auto list = make(name == "torch.Size" || name == "builtins.tuple" ? Kind::Tuple : Kind::List);
    if (!a.empty()) list->items = a[0]->items;
    return list;
  }
  auto obj = make(Kind::Object);
  obj->text = name;
  return obj;
}

PickledPtr Unpickler::load(size_t& pos) {
  pos_ = pos;
  stack_.clear();
  marks_.clear();
  memo_.clear();
  while (true) {
    const auto op = static_cast<uint8_t>(*take(1));
    switch (op) {
      case 0x80: take(1); break;  // PROTO
      case 0x95: take(8); break;  // FRAME
      case '.': {                 // STOP
        auto result = pop();
        pos = pos_;
        return result;
      }
      case '(': marks_.push_back(stack_.size()); break;  // MARK
      case '0': pop(); break;                             // POP
      case '1': popToMark(); break;                       // POP_MARK
      case '2': {                                         // DUP
        auto top = pop();
        stack_.push_back(top);
        stack_.push_back(top);
      } break;
      case 'N': stack_.push_back(make(Kind::None)); break;
      case 0x88:
      case 0x89: {  // NEWTRUE, NEWFALSE
        auto b = make(Kind::Bool);
        b->boolean = op == 0x88;
        stack_.push_back(b);
      } break;
      case 'K': stack_.push_back(integer(static_cast<uint8_t>(*take(1)))); break;  // BININT1
      case 'M': stack_.push_back(integer(readLittleEndian<uint16_t>())); break;     // BININT2
      case 'J': stack_.push_back(integer(readLittleEndian<int32_t>())); break;      // BININT
      case 0x8a:
      case 0x8b: {  // LONG1, LONG4: little-endian two's complement of n bytes
        const size_t n = op == 0x8a ? static_cast<uint8_t>(*take(1)) : readLittleEndian<uint32_t>();
        const char* bytes = take(n);
        if (n > 8) {  // too big for int64 (torch.save's legacy magic number): keep it opaque
          auto big = make(Kind::Object);
          big->text = "int";
          big->integer = static_cast<int64_t>(n);
          stack_.push_back(big);
          break;
        }
        uint64_t v = 0;
        for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[i])) << (8 * i);
        if (n > 0 && n < 8 && (static_cast<uint8_t>(bytes[n - 1]) & 0x80)) v |= ~uint64_t(0) << (8 * n);  // sign-extend
        stack_.push_back(integer(static_cast<int64_t>(v)));
      } break;
      case 'I': {  // INT (text); I00 / I01 are False / True
        const std::string line = readLine();
        if (line == "00" || line == "01") {
          auto b = make(Kind::Bool);
          b->boolean = line == "01";
          stack_.push_back(b);
        } else {
          stack_.push_back(integer(parseInt(line)));
        }
      } break;
      case 'G': {  // BINFLOAT: big-endian double
        const char* b = take(8);
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | static_cast<uint8_t>(b[i]);
        auto f = make(Kind::Float);
        std::memcpy(&f->real, &bits, 8);
        stack_.push_back(f);
      } break;
      case 'X': {  // BINUNICODE
        const uint32_t n = readLittleEndian<uint32_t>();
        stack_.push_back(string(std::string(take(n), n)));
      } break;
      case 0x8c:  // SHORT_BINUNICODE
      case 'U':   // SHORT_BINSTRING
      case 'C': {  // SHORT_BINBYTES
        const size_t n = static_cast<uint8_t>(*take(1));
        stack_.push_back(string(std::string(take(n), n)));
      } break;
      case 'T':    // BINSTRING
      case 'B': {  // BINBYTES
        const uint32_t n = readLittleEndian<uint32_t>();
        stack_.push_back(string(std::string(take(n), n)));
      } break;
      case 0x8d:
      case 0x8e: {  // BINUNICODE8, BINBYTES8
        const uint64_t n = readLittleEndian<uint64_t>();
        if (n > size_) fail("a string longer than the file");
        stack_.push_back(string(std::string(take(n), n)));
      } break;
      case ')': stack_.push_back(make(Kind::Tuple)); break;  // EMPTY_TUPLE
      case 't': {                                            // TUPLE
        auto t = make(Kind::Tuple);
        t->items = popToMark();
        stack_.push_back(t);
      } break;
      case 0x85:
      case 0x86:
      case 0x87: {  // TUPLE1..3
        const size_t n = op - 0x84;
        if (stack_.size() < n) fail("its pickle builds a tuple from too few values");
        auto t = make(Kind::Tuple);
        t->items.assign(stack_.end() - n, stack_.end());
        stack_.resize(stack_.size() - n);
        stack_.push_back(t);
      } break;
      case ']':
      case 0x8f: stack_.push_back(make(Kind::List)); break;  // EMPTY_LIST, EMPTY_SET
      case 'l': {                                            // LIST
        auto l = make(Kind::List);
        l->items = popToMark();
        stack_.push_back(l);
      } break;
      case 'a': {  // APPEND
        auto v = pop();
        if (stack_.empty() || stack_.back()->kind != Kind::List) fail("APPEND to something that is not a list");
        stack_.back()->items.push_back(v);
      } break;
      case 'e':
      case 0x90: {  // APPENDS, ADDITEMS
        auto values = popToMark();
        if (stack_.empty() || stack_.back()->kind != Kind::List) fail("APPENDS to something that is not a list");
        auto& items = stack_.back()->items;
        items.insert(items.end(), values.begin(), values.end());
      } break;
      case 0x91: {  // FROZENSET
        auto l = make(Kind::List);
        l->items = popToMark();
        stack_.push_back(l);
      } break;
      case '}': stack_.push_back(make(Kind::Dict)); break;  // EMPTY_DICT
      case 'd': {                                           // DICT
        auto d = make(Kind::Dict);
        addEntries(*d, popToMark());
        stack_.push_back(d);
      } break;
      case 's': {  // SETITEM
        auto value = pop();
        auto key = pop();
        if (stack_.empty() || stack_.back()->kind != Kind::Dict) fail("SETITEM on something that is not a dict");
        setItem(*stack_.back(), key, value);
      } break;
      case 'u': {  // SETITEMS
        auto flat = popToMark();
        if (stack_.empty() || stack_.back()->kind != Kind::Dict) fail("SETITEMS on something that is not a dict");
        addEntries(*stack_.back(), flat);
      } break;
      case 'c': {  // GLOBAL
        const std::string module = readLine();
        stack_.push_back(global(module, readLine()));
      } break;
      case 0x93: {  // STACK_GLOBAL
        auto name = pop();
        auto module = pop();
        if (module->kind != Kind::String || name->kind != Kind::String) fail("STACK_GLOBAL of non-strings");
        stack_.push_back(global(module->text, name->text));
      } break;
      case 'R': {  // REDUCE
        auto args = pop();
        auto callable = pop();
        stack_.push_back(call(callable, args));
      } break;
      case 0x81: {  // NEWOBJ: cls.__new__(cls, *args)
        auto args = pop();
        auto cls = pop();
        stack_.push_back(call(cls, args));
      } break;
      case 0x92: {  // NEWOBJ_EX
        pop();  // kwargs
        auto args = pop();
        auto cls = pop();
        stack_.push_back(call(cls, args));
      } break;
      case 'b': {  // BUILD: instance state. A dict's (an OrderedDict's _metadata) are attributes, not items.
        auto state = pop();
        if (stack_.empty()) fail("BUILD on an empty stack");
        if (stack_.back()->kind == Kind::Object) stack_.back()->items = {state};
      } break;
      case 'q': memoPut(static_cast<uint8_t>(*take(1))); break;  // BINPUT
      case 'r': memoPut(readLittleEndian<uint32_t>()); break;    // LONG_BINPUT
      case 'p': memoPut(parseInt(readLine())); break;          // PUT
      case 0x94: memoPut(static_cast<int64_t>(memo_.size())); break;  // MEMOIZE
      case 'h': stack_.push_back(memoGet(static_cast<uint8_t>(*take(1)))); break;  // BINGET
      case 'j': stack_.push_back(memoGet(readLittleEndian<uint32_t>())); break;    // LONG_BINGET
      case 'g': stack_.push_back(memoGet(parseInt(readLine()))); break;          // GET
      case 'Q': stack_.push_back(persistentLoad(pop())); break;                    // BINPERSID
      default:
        fail("unsupported pickle opcode 0x" + [&] {
          static const char* hex = "0123456789abcdef";
          return std::string{hex[op >> 4], hex[op & 15]};
        }());
    }
  }
}

// Builds the pending tensors from their storages. `bytesOf(key)` gives a storage's bytes.
void buildTensors(Unpickler& unpickler, const std::function<std::pair<const char*, size_t>(const std::string&)>& bytesOf,
                  const std::string& path) {
  std::map<std::string, torch::Tensor> storages;
  for (auto& [node, recipe] : unpickler.pendingTensors()) {
    const auto& ref = recipe.storage;
    auto base = storages[ref.key];
    if (!base.defined()) {
      auto [data, size] = bytesOf(ref.key);
      const size_t elementSize = c10::elementSize(ref.dtype);
      if (ref.numel < 0 || static_cast<uint64_t>(ref.numel) > size / elementSize)
        damaged(path, "storage " + ref.key + " holds " + std::to_string(size) + " bytes, its tensors need " +
                          std::to_string(ref.numel) + " elements of " + std::to_string(elementSize) + " bytes");
      const size_t bytes = static_cast<size_t>(ref.numel) * elementSize;
      base = torch::empty({ref.numel}, torch::TensorOptions().dtype(ref.dtype));
      std::memcpy(base.data_ptr(), data, bytes);
      storages[ref.key] = base;
    }
    auto flat = base;
    if (ref.viewNumel >= 0) {
      if (ref.viewOffset < 0 || ref.viewOffset > base.numel() || ref.viewNumel > base.numel() - ref.viewOffset)
        damaged(path, "a storage view lies outside its storage");
      flat = base.narrow(0, ref.viewOffset, ref.viewNumel);
    }
    int64_t last = recipe.offset;  // the furthest element the tensor reaches
    bool empty = false;
    for (size_t d = 0; d < recipe.sizes.size(); ++d) {
      if (recipe.sizes[d] < 0 || recipe.strides[d] < 0) damaged(path, "a negative tensor size or stride");
      if (recipe.sizes[d] == 0) empty = true;
      else if (!mulAdd(recipe.sizes[d] - 1, recipe.strides[d], last)) damaged(path, "a tensor size or stride too large");
    }
    // An empty tensor's other sizes are not bounded by the storage: keep their product sane too.
    int64_t numel = 1;
    for (auto size : recipe.sizes)
      if (__builtin_mul_overflow(numel, size, &numel)) damaged(path, "a tensor size too large");
    if (!empty && (recipe.offset < 0 || last >= flat.numel()))
      damaged(path, "a tensor reaches beyond its storage");
    node->tensor = empty ? torch::empty(recipe.sizes, base.options())
                         : flat.as_strided(recipe.sizes, recipe.strides, flat.storage_offset() + recipe.offset).clone();
  }
}

PickledPtr readZip(const std::vector<char>& bytes, const std::string& path) {
  auto reader = translateTorchErrors(ErrorCode::File, "'" + path + "' is not a state dict saved by torch.save", [&] {
    return std::make_unique<caffe2::serialize::PyTorchStreamReader>(
        std::make_shared<caffe2::serialize::MemoryReadAdapter>(bytes.data(), static_cast<off_t>(bytes.size())));
  });
  auto record = [&](const std::string& name) {
    return translateTorchErrors(ErrorCode::File, "'" + path + "' is not a state dict saved by torch.save: cannot read its record " + name, [&] { return reader->getRecord(name); });
  };
  if (!reader->hasRecord("data.pkl")) throw Error(ErrorCode::File, "'" + path + "' is not a state dict saved by torch.save: a zip archive without data.pkl");
  if (reader->hasRecord("byteorder")) {
    auto [order, n] = record("byteorder");
    if (std::string(static_cast<const char*>(order.get()), n) != "little")
      throw Error(ErrorCode::File, "'" + path + "' was saved on a big-endian machine, which kds does not read");
  }
  auto [pickle, pickleSize] = record("data.pkl");
  Unpickler unpickler(static_cast<const char*>(pickle.get()), pickleSize, path);
  size_t pos = 0;
  auto root = unpickler.load(pos);
  std::map<std::string, std::tuple<at::DataPtr, size_t>> loaded;
  buildTensors(unpickler, [&](const std::string& key) -> std::pair<const char*, size_t> {
    auto it = loaded.find(key);
    if (it == loaded.end()) it = loaded.emplace(key, record("data/" + key)).first;
    return {static_cast<const char*>(std::get<0>(it->second).get()), std::get<1>(it->second)};
  }, path);
  return root;
}

// The legacy format: pickles of the magic number, the format version, system info and the object, then a
// pickled list of storage keys, then each storage as an int64 element count and its raw bytes.
PickledPtr readLegacy(const std::vector<char>& bytes, const std::string& path) {
  Unpickler unpickler(bytes.data(), bytes.size(), path);
  size_t pos = 0;
  auto magic = unpickler.load(pos);
  if (magic->kind != Kind::Object || magic->text != "int" || magic->integer != 10)
    throw Error(ErrorCode::File, "'" + path + "' is not a state dict saved by torch.save (neither its zip archive nor its legacy format)");
  auto version = unpickler.load(pos);
  if (version->kind != Kind::Int || version->integer != 1001)
    throw Error(ErrorCode::File, "'" + path + "' uses a torch.save format version kds does not read");
  auto sysInfo = unpickler.load(pos);
  if (sysInfo->kind == Kind::Dict)
    for (const auto& [k, v] : sysInfo->entries)
      if (k->kind == Kind::String && k->text == "little_endian" && v->kind == Kind::Bool && !v->boolean)
        throw Error(ErrorCode::File, "'" + path + "' was saved on a big-endian machine, which kds does not read");
  auto root = unpickler.load(pos);
  auto keys = unpickler.load(pos);
  if (keys->kind != Kind::List) damaged(path, "no list of storage keys after the object");
  std::map<std::string, std::pair<const char*, size_t>> blocks;
  for (const auto& key : keys->items) {
    if (key->kind != Kind::String) damaged(path, "a storage key is not a string");
    if (bytes.size() - pos < 8) damaged(path, "it ends before storage " + key->text);
    int64_t numel;
    std::memcpy(&numel, bytes.data() + pos, 8);
    pos += 8;
    const auto dtype = unpickler.dtypeOfStorage(key->text);
    if (!dtype) damaged(path, "storage " + key->text + " is not referred to by the object");
    const size_t elementSize = c10::elementSize(*dtype);
    if (numel < 0 || static_cast<size_t>(numel) > (bytes.size() - pos) / elementSize)
      damaged(path, "it ends inside storage " + key->text);
    blocks[key->text] = {bytes.data() + pos, static_cast<size_t>(numel) * elementSize};
    pos += static_cast<size_t>(numel) * elementSize;
  }
  buildTensors(unpickler, [&](const std::string& key) -> std::pair<const char*, size_t> {
    auto it = blocks.find(key);
    if (it == blocks.end()) damaged(path, "storage " + key + " is missing");
    return it->second;
  }, path);
  return root;
}

// The deepest nesting of containers below `root`, stopping early past `limit` (iterative; shared and
// cyclic references are visited once).
int nestingDepth(const PickledPtr& root, int limit) {
  std::vector<std::pair<const PickledValue*, int>> todo{{root.get(), 1}};
  std::unordered_map<const PickledValue*, bool> seen;
  int deepest = 0;
  while (!todo.empty() && deepest <= limit) {
    auto [node, depth] = todo.back();
    todo.pop_back();
    if (!seen.emplace(node, true).second) continue;
    deepest = std::max(deepest, depth);
    for (const auto& item : node->items) todo.emplace_back(item.get(), depth + 1);
    for (const auto& [k, v] : node->entries) {
      todo.emplace_back(k.get(), depth + 1);
      todo.emplace_back(v.get(), depth + 1);
    }
  }
  return deepest;
}

}  // namespace

void checkPickleNesting(const std::vector<char>& bytes, const std::string& what, const std::string& path) {
  constexpr int kMaxDepth = 1000;  // real pickles nest a few dozen levels at most
  std::string tooDeep;
  try {
    caffe2::serialize::PyTorchStreamReader reader(
        std::make_shared<caffe2::serialize::MemoryReadAdapter>(bytes.data(), static_cast<off_t>(bytes.size())));
    for (const auto& name : reader.getAllRecords()) {
      if (name.size() < 3 || name.compare(name.size() - 3, 3, "pkl") != 0) continue;
      int depth = 0;
      try {
        auto [data, size] = reader.getRecord(name);
        Unpickler unpickler(static_cast<const char*>(data.get()), size, path);
        size_t pos = 0;
        depth = nestingDepth(unpickler.load(pos), kMaxDepth);
      } catch (const std::exception&) {
        continue;  // a pickle kds's reader does not understand: LibTorch judges it
      }
      if (depth > kMaxDepth) {
        tooDeep = name;
        break;
      }
    }
  } catch (const std::exception&) {
    return;  // an archive LibTorch cannot open: it will say so itself, as E_FILE
  }
  if (!tooDeep.empty())
    throw Error(ErrorCode::File, what + " '" + path + "' is corrupt: its record " + tooDeep + " nests more than " +
                                     std::to_string(kMaxDepth) + " levels deep");
}

PickledPtr readTorchSave(const std::vector<char>& bytes, const std::string& path) {
  const bool zip = bytes.size() >= 4 && bytes[0] == 'P' && bytes[1] == 'K' && bytes[2] == 3 && bytes[3] == 4;
  // LibTorch errors while rebuilding tensors from a damaged file are file errors too.
  return translateTorchErrors(ErrorCode::File, "'" + path + "' is not a state dict saved by torch.save, or it is damaged",
                              [&] { return zip ? readZip(bytes, path) : readLegacy(bytes, path); });
}

}  // namespace kds
