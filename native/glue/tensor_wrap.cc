#include "glue/tensor_wrap.h"

#include <cmath>

#include "glue/addon_data.h"
#include "glue/errors.h"

namespace kds::glue {

Napi::Function TensorWrap::define(Napi::Env env) {
  return DefineClass(env, "NativeTensor",
                     {InstanceAccessor<&TensorWrap::shape>("shape"), InstanceAccessor<&TensorWrap::device>("device"),
                      InstanceMethod<&TensorWrap::toFloat32Array>("toFloat32Array"),
                      InstanceMethod<&TensorWrap::dispose>("dispose"),
                      StaticMethod<&TensorWrap::externalMemory>("externalMemory")});
}

Napi::Object TensorWrap::create(Napi::Env env, TensorPtr tensor) {
  auto* holder = new TensorPtr(std::move(tensor));
  auto external = Napi::External<TensorPtr>::New(env, holder, [](Napi::Env, TensorPtr* p) { delete p; });
  return addonData(env).tensorClass.New({external});
}

Napi::Value TensorWrap::externalMemory(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(Napi::MemoryManagement::AdjustExternalMemory(info.Env(), 0)));
}

TensorWrap* TensorWrap::unwrapIf(Napi::Value value) {
  if (!value.IsObject()) return nullptr;
  auto& ctor = addonData(value.Env()).tensorClass;
  if (!value.As<Napi::Object>().InstanceOf(ctor.Value())) return nullptr;
  return TensorWrap::Unwrap(value.As<Napi::Object>());
}

// new NativeTensor(external) from C++, or new NativeTensor(data: Float32Array, shape: number[]) from JS.
TensorWrap::TensorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorWrap>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  guarded(env, [&] {
    if (info.Length() == 1 && info[0].IsExternal()) {
      // take the reference out of the holder: dispose() must free the tensor now, not when the GC runs
      tensor_ = std::move(*info[0].As<Napi::External<TensorPtr>>().Data());
    } else {
      std::vector<Napi::Value> keep;
      auto obj = Napi::Object::New(env);
      obj.Set("data", info[0]);
      obj.Set("shape", info[1]);
      tensor_ = readTensorArg(obj, "tensor", keep).resolve();
    }
    if (tensor_) {
      reportedBytes_ = static_cast<int64_t>(tensor_->nbytes());
      Napi::MemoryManagement::AdjustExternalMemory(env, reportedBytes_);
    }
  });
}

TensorWrap::~TensorWrap() { release(); }

void TensorWrap::release() {
  tensor_.reset();
  if (reportedBytes_ != 0) Napi::MemoryManagement::AdjustExternalMemory(env_, -reportedBytes_);
  reportedBytes_ = 0;
}

const TensorPtr& TensorWrap::tensor(Napi::Env env) const {
  if (!tensor_) throw makeError(env, ErrorCode::State, "this tensor was disposed");
  return tensor_;
}

Napi::Value TensorWrap::shape(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto s = tensor(env)->shape();
  auto arr = Napi::Array::New(env, s.size());
  for (size_t i = 0; i < s.size(); ++i) arr.Set(i, Napi::Number::New(env, static_cast<double>(s[i])));
  return arr;
}

Napi::Value TensorWrap::device(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), tensor(info.Env())->device());
}

Napi::Value TensorWrap::toFloat32Array(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& t = tensor(env);
  auto out = Napi::Float32Array::New(env, t->numel());
  guarded(env, [&] { t->copyTo(out.Data()); });
  return out;
}

void TensorWrap::dispose(const Napi::CallbackInfo&) { release(); }

TensorArg readTensorArg(Napi::Value value, const std::string& name, std::vector<Napi::Value>& keepAlive) {
  Napi::Env env = value.Env();
  if (auto* wrapped = TensorWrap::unwrapIf(value)) {
    keepAlive.push_back(value);
    return TensorArg{wrapped->tensor(env), nullptr, {}};
  }
  if (!value.IsObject())
    throw makeError(env, ErrorCode::Argument, name + " must be a Tensor or { data: Float32Array, shape: number[] }");
  auto obj = value.As<Napi::Object>();
  Napi::Value data = obj.Get("data"), shape = obj.Get("shape");
  if (!data.IsTypedArray() || data.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw makeError(env, ErrorCode::Argument, name + ".data must be a Float32Array");
  if (!shape.IsArray()) throw makeError(env, ErrorCode::Argument, name + ".shape must be an array of integers");
  TensorArg arg;
  auto shapeArray = shape.As<Napi::Array>();
  double numel = 1;
  for (uint32_t i = 0; i < shapeArray.Length(); ++i) {
    Napi::Value d = shapeArray.Get(i);
    const double v = d.IsNumber() ? d.As<Napi::Number>().DoubleValue() : -1;
    if (!(v >= 0) || std::floor(v) != v)
      throw makeError(env, ErrorCode::Argument, name + ".shape[" + std::to_string(i) + "] must be a non-negative integer");
    arg.shape.push_back(static_cast<int64_t>(v));
    numel *= v;
  }
  auto array = data.As<Napi::Float32Array>();
  if (numel != static_cast<double>(array.ElementLength()))
    throw makeError(env, ErrorCode::Shape, name + ".shape " + shapeToString(arg.shape) + " needs " + std::to_string(static_cast<int64_t>(numel)) +
                                              " values, but data has " + std::to_string(array.ElementLength()));
  arg.data = array.Data();
  keepAlive.push_back(data);
  return arg;
}

}  // namespace kds::glue
